// Package bench holds tickrelay's end-to-end and comparative benchmarks: real servers and bots over
// loopback, links narrowed by the impairment proxy, and (as root) real kernel bottlenecks from
// internal/netlab. Nothing here runs in a plain `go test`; run them with
//
//	go test -run '^$' -bench . -benchtime 1x ./bench                 # every scenario, one run each
//	go test -run '^$' -bench Bottleneck -benchtime 1x ./bench        # tbf bottlenecks, root, ~3 min
//
// The in-process tick benchmark lives next to the room: go test -run '^$' -bench Tick ./server.
// docs/BENCHMARKS.md defines the scenarios and how every figure is counted.
package bench
