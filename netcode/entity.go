package netcode

// EntityState is the quantized state of one entity, as a client sees it: its fields in the order
// of the plan's Fields (Plan.Read fills them); the unused tail stays 0. Views are slices of
// EntityState sorted by ascending ID with no duplicates. 64 bytes: one cache line.
type EntityState struct {
	ID     uint32
	Kind   uint8
	Fields [MaxFields]int32
}

// FindEntity returns the index of id in a sorted view, or -1.
func FindEntity(view []EntityState, id uint32) int {
	lo, hi := 0, len(view)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if view[mid].ID < id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(view) && view[lo].ID == id {
		return lo
	}
	return -1
}
