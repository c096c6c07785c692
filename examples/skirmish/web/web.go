// Package web embeds the skirmish's page: index.html and its bundle (static/skirmish.js, built by
// build.sh from src/main.js, the client library in web/src and the generated skirmish_pb.js).
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the skirmish's page.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.FileServerFS(sub)
}
