package persist

import (
	"fmt"
	"testing"
)

// TestRendezvousSpreadsPartitions: every partition has exactly one owner, and each of
// n members owns about 1/n of them.
func TestRendezvousSpreadsPartitions(t *testing.T) {
	for _, n := range []int{2, 3, 5} {
		var live []string
		for i := 0; i < n; i++ {
			live = append(live, fmt.Sprintf("0f8fad5b-d9cb-469f-a165-70867728950%d", i))
		}
		owned := make([]int, n)
		const partitions = 1024
		for k := 0; k < partitions; k++ {
			owners := 0
			for i, id := range live {
				m := &members{id: id, live: live}
				if m.owns(k) {
					owners++
					owned[i]++
				}
			}
			if owners != 1 {
				t.Fatalf("%d members: partition %d has %d owners", n, k, owners)
			}
		}
		for i, c := range owned {
			if share := float64(c) / partitions; share < 0.6/float64(n) || share > 1.4/float64(n) {
				t.Errorf("%d members: member %d owns %.2f of the partitions", n, i, share)
			}
		}
	}
}
