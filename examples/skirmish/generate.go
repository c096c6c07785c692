package skirmish

// Regenerates skirmishpb/skirmish.pb.go (buf v1.75.0 and protoc-gen-go, pinned as for schema/).
//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate --path skirmishpb
