package deploy

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/telemetryd/telemetryd/schema"
)

// chConfig is the part of a ClickHouse config file deploy/clickhouse-cluster sets.
type chConfig struct {
	XMLName       xml.Name
	RemoteServers struct {
		Clusters []struct {
			XMLName xml.Name
			Shards  []struct {
				InternalReplication bool `xml:"internal_replication"`
				Replicas            []struct {
					Host string `xml:"host"`
					Port int    `xml:"port"`
				} `xml:"replica"`
			} `xml:"shard"`
		} `xml:",any"`
	} `xml:"remote_servers"`
	ZooKeeper struct {
		Nodes []struct {
			Host string `xml:"host"`
		} `xml:"node"`
	} `xml:"zookeeper"`
	DistributedDDLPath string `xml:"distributed_ddl>path"`
	Macros             struct {
		Shard   string `xml:"shard"`
		Replica string `xml:"replica"`
	} `xml:"macros"`
	ProductMode string `xml:"profiles>default>distributed_product_mode"`
}

func readCHConfig(t *testing.T, path string) chConfig {
	t.Helper()
	var c chConfig
	if err := xml.Unmarshal([]byte(read(t, path)), &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	// ClickHouse 18.16 reads <yandex>; current releases read it too.
	if c.XMLName.Local != "yandex" {
		t.Errorf("%s: root element <%s>, want <yandex>", path, c.XMLName.Local)
	}
	return c
}

// TestClickHouseClusterConfig checks the ready cluster config of deploy/clickhouse-cluster:
// the files parse, the telemetryd env names a cluster the servers define, every replica
// has a macros file that puts it in its own shard, and the settings telemetryd checks at
// start are there. deploy/local/clickhouse-cluster.sh runs the test cluster with the same
// users.d file.
func TestClickHouseClusterConfig(t *testing.T) {
	dir := "clickhouse-cluster"
	servers := readCHConfig(t, filepath.Join(dir, "config.d", "remote_servers.xml"))
	zk := readCHConfig(t, filepath.Join(dir, "config.d", "zookeeper.xml"))
	users := readCHConfig(t, filepath.Join(dir, "users.d", "telemetryd.xml"))

	env := readEnvFile(t, filepath.Join(dir, "telemetryd.env"))
	for k := range env {
		checkEnvName(t, "clickhouse-cluster/telemetryd.env", k)
	}
	checkSecrets(t, "clickhouse-cluster/telemetryd.env", env)
	name := env["TELEMETRYD_CLICKHOUSE_CLUSTER"]
	if err := schema.ValidateCluster(name); err != nil || name == "" {
		t.Fatalf("TELEMETRYD_CLICKHOUSE_CLUSTER %q: %v", name, err)
	}
	if len(servers.RemoteServers.Clusters) != 1 || servers.RemoteServers.Clusters[0].XMLName.Local != name {
		t.Fatalf("remote_servers defines %+v, want the one cluster %s", servers.RemoteServers.Clusters, name)
	}
	cluster := servers.RemoteServers.Clusters[0]

	// host -> the macros it must have
	want := map[string][2]string{}
	for i, shard := range cluster.Shards {
		if !shard.InternalReplication {
			t.Errorf("shard %d: internal_replication must be true with ReplicatedMergeTree tables", i+1)
		}
		if len(shard.Replicas) == 0 {
			t.Errorf("shard %d has no replica", i+1)
		}
		for _, r := range shard.Replicas {
			want[r.Host] = [2]string{fmt.Sprintf("%02d", i+1), r.Host}
		}
	}
	macros, err := filepath.Glob(filepath.Join(dir, "macros", "*.xml"))
	if err != nil || len(macros) != len(want) {
		t.Errorf("macros files %v, want one per replica of %v", macros, want)
	}
	for _, path := range macros {
		host := strings.TrimSuffix(filepath.Base(path), ".xml")
		m := readCHConfig(t, path).Macros
		if w, ok := want[host]; !ok || m.Shard != w[0] || m.Replica != w[1] {
			t.Errorf("%s: shard %q replica %q; remote_servers puts %s in shard %s", path, m.Shard, m.Replica, host, want[host][0])
		}
	}
	dsn, err := schema.Options(env["TELEMETRYD_CLICKHOUSE_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := strings.Cut(dsn.Addr[0], ":"); want[host] == [2]string{} {
		t.Errorf("TELEMETRYD_CLICKHOUSE_DSN points at %s, not a node of the cluster", host)
	}

	if len(zk.ZooKeeper.Nodes) < 3 || zk.DistributedDDLPath == "" {
		t.Errorf("zookeeper.xml: %d ZooKeeper nodes and distributed_ddl path %q; want 3 and a path", len(zk.ZooKeeper.Nodes), zk.DistributedDDLPath)
	}
	if users.ProductMode != "global" {
		t.Errorf("users.d/telemetryd.xml: distributed_product_mode %q, want global", users.ProductMode)
	}
	if _, err := os.Stat(filepath.Join("local", "clickhouse-cluster.sh")); err != nil {
		t.Errorf("the local test cluster script: %v", err)
	}
}
