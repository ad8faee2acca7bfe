package deploy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"
)

// k8sSecretExample shows the Secrets' keys; kustomization.yaml must never apply it.
const k8sSecretExample = "secret.example.yaml"

// writeK8sNATSConfig writes the k8s NATS ConfigMap's files to a directory, with the TLS
// files the Secret nats-tls would mount made up on the spot, and sets the environment
// the StatefulSet gives the server. It returns the path of nats.conf.
func writeK8sNATSConfig(t *testing.T, byKind map[string]map[string]k8sObject) string {
	t.Helper()
	dir := t.TempDir()
	cm := byKind["ConfigMap"]["nats-config"]
	auth := str(cm, "data", "auth.conf")
	if auth != read(t, "nats/auth.conf") {
		t.Error("k8s nats-config auth.conf differs from deploy/nats/auth.conf: keep them equal")
	}
	writeTestCerts(t, filepath.Join(dir, "tls"))
	conf := strings.ReplaceAll(str(cm, "data", "nats.conf"), "/etc/nats-tls/", filepath.Join(dir, "tls")+"/")
	for name, text := range map[string]string{"nats.conf": conf, "auth.conf": auth} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secrets := setNATSSecrets(t)
	// The route URLs as the StatefulSet builds them from the route password.
	for _, e := range asList(get(containers(byKind["StatefulSet"]["nats"])[0], "env")) {
		name, value := str(e, "name"), str(e, "value")
		if strings.HasPrefix(name, "NATS_ROUTE_") && name != "NATS_ROUTE_PASSWORD" {
			t.Setenv(name, strings.ReplaceAll(value, "$(NATS_ROUTE_PASSWORD)", secrets["route"]))
		}
	}
	return filepath.Join(dir, "nats.conf")
}

// checkK8sNATSAuth: TLS for clients and (mutual) for routes, the passwords from the
// Secret nats-auth, and every telemetryd role as its own NATS user, trusting the CA.
func checkK8sNATSAuth(t *testing.T, byKind map[string]map[string]k8sObject, opts *server.Options) {
	t.Helper()
	if opts.TLSConfig == nil {
		t.Error("k8s nats.conf: clients connect without TLS")
	}
	if opts.Cluster.TLSConfig == nil || opts.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Error("k8s nats.conf: routes without mutual TLS")
	}
	ss := containers(byKind["StatefulSet"]["nats"])[0]
	if !strings.Contains(fmt.Sprint(get(ss, "envFrom")), "nats-auth") {
		t.Error("StatefulSet nats does not take the passwords from the Secret nats-auth")
	}
	cfg := byKind["ConfigMap"]["telemetryd-config"]
	if str(cfg, "data", "TELEMETRYD_NATS_TLS_CA") == "" {
		t.Error("telemetryd-config sets no TELEMETRYD_NATS_TLS_CA")
	}
	for _, role := range []string{"ingest", "persist", "fetch"} {
		d := byKind["Deployment"]["telemetryd-"+role]
		env := map[string]any{}
		for _, e := range asList(get(containers(d)[0], "env")) {
			env[str(e, "name")] = e
		}
		if str(env["TELEMETRYD_NATS_USER"], "value") != role || str(env["TELEMETRYD_NATS_INBOX_PREFIX"], "value") != "_INBOX_"+role {
			t.Errorf("Deployment telemetryd-%s: not its role's NATS user and inbox", role)
		}
		ref := get(env["TELEMETRYD_NATS_PASSWORD"], "valueFrom", "secretKeyRef")
		if str(ref, "name") != "nats-auth" || str(ref, "key") != natsPasswordEnv(role) {
			t.Errorf("Deployment telemetryd-%s: TELEMETRYD_NATS_PASSWORD not from nats-auth/%s", role, natsPasswordEnv(role))
		}
		mounted := false
		for _, m := range asList(get(containers(d)[0], "volumeMounts")) {
			mounted = mounted || strings.HasPrefix(str(cfg, "data", "TELEMETRYD_NATS_TLS_CA"), str(m, "mountPath")+"/")
		}
		if !mounted {
			t.Errorf("Deployment telemetryd-%s does not mount the NATS CA", role)
		}
	}
	var kust struct{ Resources []string }
	_ = yaml.Unmarshal([]byte(read(t, "k8s/kustomization.yaml")), &kust)
	if slices.Contains(kust.Resources, k8sSecretExample) {
		t.Errorf("kustomization.yaml applies %s", k8sSecretExample)
	}
	if byKind["Secret"]["nats-auth"] == nil {
		t.Errorf("%s does not show the Secret nats-auth", k8sSecretExample)
	}
}

// writeTestCerts writes ca.crt, tls.crt and tls.key (a CA and a server/client
// certificate for 127.0.0.1) into dir.
func writeTestCerts(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for name, block := range map[string]*pem.Block{
		"ca.crt": {Type: "CERTIFICATE", Bytes: caDER}, "tls.crt": {Type: "CERTIFICATE", Bytes: leafDER}, "tls.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
