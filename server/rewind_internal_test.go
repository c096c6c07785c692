package server

import (
	"math/rand/v2"
	"testing"

	"github.com/tickrelay/tickrelay/netcode"
)

// findID and findNear answer as a plain binary search does, for IDs spread evenly, in clusters
// and with huge gaps, for IDs present and absent, with every lower bound and wrong guesses.
func TestFindIDMatchesBinarySearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	gaps := map[string]func() uint32{
		"dense":    func() uint32 { return 1 + rng.Uint32N(2) },
		"clusters": func() uint32 { return []uint32{1, 1, 1, 1, 1, 1, 1, 100000}[rng.IntN(8)] },
		"huge":     func() uint32 { return 1 + rng.Uint32N(1<<21) }, // 1000 of them stay below 2^32
	}
	for name, gap := range gaps {
		for _, n := range []int{0, 1, 2, 7, 8, 9, 50, 1000} {
			view := make([]netcode.EntityState, n)
			id := rng.Uint32N(10)
			for i := range view {
				id += gap()
				view[i].ID = id
			}
			var ids []uint32
			for i := range view {
				ids = append(ids, view[i].ID, view[i].ID-1, view[i].ID+1)
			}
			ids = append(ids, 0, 1, ^uint32(0))
			for _, id := range ids {
				want := netcode.FindEntity(view, id)
				for _, from := range []int{0, 1, n / 2, max(want, 0), max(want, 0) + 1, n} {
					if from > n {
						continue
					}
					w := want
					if w < from {
						w = -1
					}
					if got := findID(view, id, from); got != w {
						t.Fatalf("%s, %d entities: findID(%d, from %d) = %d, want %d", name, n, id, from, got, w)
					}
					for _, guess := range []int{-1, 0, max(want, 0), rng.IntN(n + 2), n} {
						if got := findNear(view, id, guess, from); got != w {
							t.Fatalf("%s, %d entities: findNear(%d, guess %d, from %d) = %d, want %d", name, n, id, guess, from, got, w)
						}
					}
				}
			}
		}
	}
}
