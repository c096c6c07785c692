package server

import "github.com/tickrelay/tickrelay/netcode"

// View is the point a player without an entity perceives the world from: a spectator's camera.
type View struct {
	// X and Y are the position on the entity plan's plane (x and z on an XZ plane), Z the
	// vertical one, in world units.
	X, Y, Z float32
	// On makes the view count: a player whose Entity is 0 (none) and whose View is not On
	// perceives only the always-relevant entities.
	On bool
}

// viewPoint returns where p's area of interest is centred: its own entity while it has one in the
// frame, else its View when that is on. Only the tick goroutine and the encoders it waits for may
// call it.
func (r *Room) viewPoint(p *Peer) (x, y, z float32, ok bool) {
	rec := &r.record
	if own := findOwn(rec, p.player.Entity); own >= 0 {
		if len(rec.zs) > 0 {
			z = rec.zs[own]
		}
		return rec.xs[own], rec.ys[own], z, true
	}
	if v := p.player.View; v.On && p.player.Entity == 0 {
		return v.X, v.Y, v.Z, true
	}
	return 0, 0, 0, false
}

func findOwn(rec *recordState, id uint32) int {
	if id == 0 {
		return -1
	}
	return netcode.FindEntity(rec.frame, id)
}
