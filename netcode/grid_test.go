package netcode

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// bruteQuery is the definition Grid.Query must match: every index within r of (x, y), inclusive,
// computed with the same float32 expression.
func bruteQuery(xs, ys []float32, x, y, r float32) []int32 {
	var out []int32
	for i := range xs {
		dx, dy := xs[i]-x, ys[i]-y
		if dx*dx+dy*dy <= r*r {
			out = append(out, int32(i))
		}
	}
	return out
}

// gridCoord returns a coordinate for a world of the given size: usually inside, often exactly on a
// cell border or a world edge, sometimes outside the world (which the grid clamps).
func gridCoord(rng *rand.Rand, size, cell float32) float32 {
	switch rng.IntN(5) {
	case 0: // on a cell border, the world's edges included
		return float32(rng.IntN(int(size/cell)+1)) * cell
	case 1: // outside the world
		return -size/2 + rng.Float32()*size*2
	case 2: // on the quarter-unit lattice, as quantized positions are
		return float32(rng.IntN(int(size)*4+1)) / 4
	default:
		return rng.Float32() * size
	}
}

func TestGridQueryMatchesBruteForce(t *testing.T) {
	tests := []struct {
		name                string
		width, height, cell float32
		n                   int
	}{
		{"cells divide the world", 1000, 800, 100, 400},
		{"cells do not divide the world", 1000, 800, 75, 400},
		{"one cell", 100, 100, 300, 50},
		{"thin world", 2000, 10, 50, 200},
		{"many small cells", 500, 500, 7, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.n)))
			g := NewGrid(tt.width, tt.height, tt.cell)
			xs := make([]float32, tt.n)
			ys := make([]float32, tt.n)
			for i := range xs {
				xs[i] = gridCoord(rng, tt.width, tt.cell)
				ys[i] = gridCoord(rng, tt.height, tt.cell)
			}
			g.Build(xs, ys)
			var got []int32
			for q := range 300 {
				x := gridCoord(rng, tt.width, tt.cell)
				y := gridCoord(rng, tt.height, tt.cell)
				// Radii from 0 to more than the world, often a multiple of the cell.
				r := []float32{0, tt.cell, 2 * tt.cell, rng.Float32() * tt.cell * 3, tt.width}[q%5]
				got = g.Query(x, y, r, got[:0])
				slices.Sort(got)
				if want := bruteQuery(xs, ys, x, y, r); !slices.Equal(got, want) {
					t.Fatalf("Query(%v, %v, %v) = %v, want %v", x, y, r, got, want)
				}
			}
		})
	}
}

// TestGridQueryAppends checks that Query appends to dst rather than replacing it.
func TestGridQueryAppends(t *testing.T) {
	g := NewGrid(100, 100, 10)
	g.Build([]float32{5}, []float32{5})
	got := g.Query(5, 5, 1, []int32{42})
	if !slices.Equal(got, []int32{42, 0}) {
		t.Fatalf("Query appended to [42]: got %v", got)
	}
}

// TestGridRebuild checks that a Build forgets the previous one entirely, whether the entity count
// shrinks (no stale indices past the new count) or grows (storage must grow).
func TestGridRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	g := NewGrid(1000, 1000, 100)
	for _, n := range []int{500, 37, 0, 1, 800, 800, 3} {
		xs := make([]float32, n)
		ys := make([]float32, n)
		for i := range xs {
			xs[i] = gridCoord(rng, 1000, 100)
			ys[i] = gridCoord(rng, 1000, 100)
		}
		g.Build(xs, ys)
		var got []int32
		for range 100 {
			x, y := gridCoord(rng, 1000, 100), gridCoord(rng, 1000, 100)
			got = g.Query(x, y, 250, got[:0])
			slices.Sort(got)
			if want := bruteQuery(xs, ys, x, y, 250); !slices.Equal(got, want) {
				t.Fatalf("after Build of %d: Query(%v, %v) = %v, want %v", n, x, y, got, want)
			}
		}
		// A query covering the whole world returns every entity exactly once.
		got = g.Query(500, 500, 5000, got[:0])
		slices.Sort(got)
		for i, v := range got {
			if v != int32(i) {
				t.Fatalf("after Build of %d: whole-world query = %v", n, got)
			}
		}
		if len(got) != n {
			t.Fatalf("after Build of %d: whole-world query found %d", n, len(got))
		}
	}
}
