package netcode

import (
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode/internal/testpb"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// The plans compiled from real messages: the arena's, and the test messages with every kind.
var (
	arenaPlan      = mustCompile(CompileEntity, &arenapb.Entity{})
	arenaInputPlan = mustCompile(CompileInput, &arenapb.Input{})
	bodyPlan       = mustCompile(CompileEntity, &testpb.Body{}) // 3D, XZ plane, every kind
	flatPlan       = mustCompile(CompileEntity, &testpb.Flat{})
	padPlan        = mustCompile(CompileInput, &testpb.Pad{})
)

func mustCompile(compile func(proto.Message) (*Plan, error), m proto.Message) *Plan {
	p, err := compile(m)
	if err != nil {
		panic(err)
	}
	return p
}
