package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ClickHouseClusterEnv names the variable holding the test ClickHouse cluster: the
// native host:port of each node, comma-separated, node 1 first, as
// deploy/local/clickhouse-cluster.sh prints them. `make test` starts the cluster and sets
// it; without it the cluster tests fail, as the single-server ones do.
const ClickHouseClusterEnv = "TELEMETRYD_TEST_CLICKHOUSE_CLUSTER"

// The clusters deploy/local/clickhouse-cluster.sh defines over its nodes.
const (
	ShardsCluster   = "telemetry_shards"   // 2 shards x 1 replica: node 1 | node 2
	ReplicasCluster = "telemetry_replicas" // 1 shard x 2 replicas: node 1 + node 3
)

// ClusterNode is a node of a test cluster, as the cluster's remote_servers place it.
type ClusterNode struct {
	Addr    string // host:port of the native protocol
	Shard   int    // 1-based
	Replica int    // 1-based, within the shard
}

// DSN is the node's DSN for database db.
func (n ClusterNode) DSN(db string) string { return "clickhouse://" + n.Addr + "/" + db }

// ClickHouseClusterAddrs are the test cluster's nodes; the test fails without them.
func ClickHouseClusterAddrs(t testing.TB) []string {
	t.Helper()
	v := os.Getenv(ClickHouseClusterEnv)
	if v == "" {
		t.Fatalf("%s is not set: cluster tests need a ClickHouse cluster; run `make test`, which starts one (deploy/local/clickhouse-cluster.sh)", ClickHouseClusterEnv)
	}
	var addrs []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// ClickHouseCluster returns the nodes of the named cluster, in shard then replica order,
// as the first node's system.clusters lists them.
func ClickHouseCluster(t testing.TB, cluster string) []ClusterNode {
	t.Helper()
	addrs := ClickHouseClusterAddrs(t)
	conn := open(t, addrs[0], "default")
	rows, err := conn.Query(context.Background(),
		"SELECT shard_num, replica_num, host_name, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num", cluster)
	if err != nil {
		t.Fatalf("read cluster %s: %v", cluster, err)
	}
	defer rows.Close()
	var nodes []ClusterNode
	for rows.Next() {
		var shard, replica uint32
		var host string
		var port uint16
		if err := rows.Scan(&shard, &replica, &host, &port); err != nil {
			t.Fatalf("read cluster %s: %v", cluster, err)
		}
		addr := net.JoinHostPort(host, strconv.Itoa(int(port)))
		if !slices.Contains(addrs, addr) {
			t.Fatalf("cluster %s has node %s, which %s does not list (%v)", cluster, addr, ClickHouseClusterEnv, addrs)
		}
		nodes = append(nodes, ClusterNode{Addr: addr, Shard: int(shard), Replica: int(replica)})
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read cluster %s: %v", cluster, err)
	}
	if len(nodes) < 2 {
		t.Fatalf("cluster %s has %d nodes on %s; deploy/local/clickhouse-cluster.sh defines 2", cluster, len(nodes), addrs[0])
	}
	t.Logf("ClickHouse cluster %s: ClickHouse %s at %v", cluster, serverVersion(t, conn, addrs[0]), nodes)
	return nodes
}

// ClusterDatabase returns a database name of the test's own for the cluster; the
// test's migrations create it, and it is dropped on every node at cleanup.
func ClusterDatabase(t testing.TB, cluster string) string {
	t.Helper()
	nodes := ClickHouseCluster(t, cluster)
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "test_cluster_" + hex.EncodeToString(b[:])
	admin := open(t, nodes[0].Addr, "default")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s ON CLUSTER '%s'", db, cluster)); err != nil {
			t.Errorf("drop test database %s on cluster %s: %v", db, cluster, err)
		}
	})
	return db
}
