#!/usr/bin/env bash
# Regenerates the skirmish page's JS: gen/ (skirmish_pb.js and the options it imports, by buf and
# protoc-gen-es from web/node_modules) and the bundle static/skirmish.js (esbuild, also from
# web/node_modules: run `npm ci` in web/ first). Run from anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
nm="$here/../../../web/node_modules"
(cd "$here/../../.." && go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate --template examples/skirmish/buf.gen.es.yaml --path examples/skirmish/skirmishpb)
# NODE_PATH lets esbuild resolve @bufbuild/protobuf for files outside web/.
NODE_PATH="$nm" "$nm/.bin/esbuild" "$here/src/main.js" --bundle --format=esm --target=es2022 --minify \
	--outfile="$here/static/skirmish.js" --log-level=warning
