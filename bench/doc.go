// Package bench holds tickrelay's end-to-end and comparative benchmarks. Nothing here runs in a
// plain `go test`; run them with
//
//	go test -run '^$' -bench . -benchtime 1x ./bench       # end-to-end scenarios, one run each
//	go test -run '^$' -bench Tick ./bench                  # in-process tick cost
package bench
