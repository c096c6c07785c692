// Package schema holds tickrelay's wire messages: tickrelay.proto and the Go code generated from it.
//
// Regenerate with `go generate ./schema` (buf v1.75.0 and protoc-gen-go, both pinned).
package schema

//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate
