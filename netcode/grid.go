package netcode

import "math"

// Grid is a uniform spatial grid over a rectangular world, rebuilt every tick, for area-of-interest
// queries. Build is a counting sort of entity indices by cell, so after the first ticks it allocates
// nothing. Positions outside the world are clamped into the edge cells.
type Grid struct {
	cell       float32
	cols, rows int
	start      []int32 // start[c]..start[c+1] index items for cell c
	items      []int32 // entity indices grouped by cell
	cellOf     []int32 // cell of each entity index, from the last Build
	xs, ys     []float32
}

// NewGrid returns a grid for a world of the given size with square cells of side cell. A cell about
// the size of the query radius keeps queries to at most nine cells.
func NewGrid(width, height, cell float32) *Grid {
	cols := int(math.Ceil(float64(width / cell)))
	rows := int(math.Ceil(float64(height / cell)))
	cols, rows = max(cols, 1), max(rows, 1)
	return &Grid{cell: cell, cols: cols, rows: rows, start: make([]int32, cols*rows+1)}
}

func (g *Grid) cellXY(x, y float32) (int, int) {
	cx := int(x / g.cell)
	cy := int(y / g.cell)
	return min(max(cx, 0), g.cols-1), min(max(cy, 0), g.rows-1)
}

// Build indexes the entities whose positions are xs[i], ys[i]. The grid keeps the slices until the
// next Build, so the caller must not change them in between.
func (g *Grid) Build(xs, ys []float32) {
	g.xs, g.ys = xs, ys
	n := len(xs)
	if cap(g.cellOf) < n {
		g.cellOf = make([]int32, n)
		g.items = make([]int32, n)
	}
	g.cellOf, g.items = g.cellOf[:n], g.items[:n]
	clear(g.start)
	for i := range n {
		cx, cy := g.cellXY(xs[i], ys[i])
		c := int32(cy*g.cols + cx)
		g.cellOf[i] = c
		g.start[c+1]++
	}
	for c := 1; c < len(g.start); c++ {
		g.start[c] += g.start[c-1]
	}
	// Fill each cell from its end so that start[c] ends up where it began.
	for i := n - 1; i >= 0; i-- {
		c := g.cellOf[i] + 1
		g.start[c]--
		g.items[g.start[c]] = int32(i)
	}
	// Now start[c+1] is the beginning of cell c; shift back into place.
	copy(g.start, g.start[1:])
	g.start[len(g.start)-1] = int32(n)
}

// Query appends to dst the indices of entities within radius r of (x, y), inclusive, in no
// particular order, and returns it.
func (g *Grid) Query(x, y, r float32, dst []int32) []int32 {
	x0, y0 := g.cellXY(x-r, y-r)
	x1, y1 := g.cellXY(x+r, y+r)
	r2 := r * r
	for cy := y0; cy <= y1; cy++ {
		for cx := x0; cx <= x1; cx++ {
			c := cy*g.cols + cx
			for _, i := range g.items[g.start[c]:g.start[c+1]] {
				dx, dy := g.xs[i]-x, g.ys[i]-y
				if dx*dx+dy*dy <= r2 {
					dst = append(dst, i)
				}
			}
		}
	}
	return dst
}
