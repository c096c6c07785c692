// Package bench holds tickrelay's end-to-end and comparative benchmarks: real servers and bots over
// loopback, and links narrowed by the impairment proxy. Nothing here runs in a plain `go test`; run
// them with
//
//	go test -run '^$' -bench . -benchtime 1x ./bench       # end-to-end scenarios, one run each
//
// The in-process tick benchmark lives next to the room: go test -run '^$' -bench Tick ./server.
// docs/BENCHMARKS.md defines the scenarios and how every figure is counted.
package bench
