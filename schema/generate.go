// Package schema holds tickrelay's wire messages: tickrelay.proto, the replication options of
// tickrelay/options.proto that games use in their own messages, and the Go code generated from them.
//
// Regenerate with `go generate ./schema` (buf v1.75.0 and protoc-gen-go, both pinned). It generates
// every module of the buf workspace (../buf.yaml): also the arena's messages (server/arena/arenapb),
// the skirmish example's (examples/skirmish/skirmishpb) and the test messages of netcode and server.
package schema

//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate ..
