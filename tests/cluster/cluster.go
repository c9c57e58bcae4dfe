// Package cluster starts a real Kubernetes control plane for a test: etcd
// and kube-apiserver (v1.34.4, the kubelet's release, built by setup.sh into
// the cache) on this machine's loopback, with certificates made here, an
// admin kubeconfig, and the real kubectl. Everything it writes is under the
// test's TempDir; both programs are stopped by their PIDs at cleanup.
package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
)

// Cluster is a running control plane.
type Cluster struct {
	// Kubeconfig is the admin's (group system:masters).
	Kubeconfig string
	// Server is the API server's URL.
	Server string
	dir    string
	bin    string
}

// startTimeout bounds etcd's and the API server's start (about 1 s and 2 s
// on an idle machine; this one is shared).
const startTimeout = 90 * time.Second

// Start starts etcd and kube-apiserver; the test fails if either does not
// come up. etcd's data folder takes 123 MB at once (a preallocated WAL), so
// TempDir must not be a small tmpfs.
func Start(t testing.TB) *Cluster {
	t.Helper()
	cache, err := node.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{dir: t.TempDir(), bin: filepath.Join(cache, "bin")}
	for _, b := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(c.bin, b)); err != nil {
			t.Fatalf("%s is not built: run `make deps` (tests/setup.sh): %v", b, err)
		}
	}
	pki := certificates(t, filepath.Join(c.dir, "pki"), []net.IP{net.ParseIP("127.0.0.1")}, nil)
	etcdPort, peerPort, apiPort := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	c.start(t, "etcd", "--name=test", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL, "--initial-cluster=test="+peerURL,
		// A test's data is thrown away: fsync buys nothing here.
		"--unsafe-no-fsync")
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.start(t, "kube-apiserver", "--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		// Its default, /var/run/kubernetes, is outside the test's folder.
		"--cert-dir="+filepath.Join(c.dir, "apiserver"),
		"--tls-cert-file="+pki["apiserver.crt"], "--tls-private-key-file="+pki["apiserver.key"],
		"--client-ca-file="+pki["ca.crt"],
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki["sa.key"], "--service-account-signing-key-file="+pki["sa.key"],
		"--service-cluster-ip-range=10.96.0.0/12",
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
		// On loopback the kubernetes Service would get no endpoints.
		"--endpoint-reconciler-type=none")
	c.Kubeconfig = filepath.Join(c.dir, "admin.conf")
	writeFile(t, c.Kubeconfig, kubeconfig(c.Server, pki, "admin"))
	c.waitReady(t, pki)
	return c
}

// start starts a program of the cache's bin folder, its output in a log
// file, and stops it by its PID at cleanup (SIGTERM, then SIGKILL).
func (c *Cluster) start(t testing.TB, name string, args ...string) {
	logPath := filepath.Join(c.dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = c.dir
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s's log (last 3000 bytes):\n%s", name, tail(b, 3000))
		}
	})
}

// waitReady waits for the API server's /readyz (which also asks etcd).
func (c *Cluster) waitReady(t testing.TB, pki map[string]string) {
	cert, err := tls.LoadX509KeyPair(pki["admin.crt"], pki["admin.key"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(t, pki["ca.crt"]))
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		resp, err := hc.Get(c.Server + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%s: %s", resp.Status, b)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("kube-apiserver not ready within %s: %s", startTimeout, last)
}

// Kubectl runs the real kubectl as the admin; its cache stays in the
// test's folder (its default is ~/.kube/cache).
func (c *Cluster) Kubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := c.Shell(t, stdin, "kubectl "+shellJoin(args))
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Shell runs a shell command line as a user would paste it: kubectl on the
// PATH, the admin's KUBECONFIG, the cache in the test's folder.
func (c *Cluster) Shell(t testing.TB, stdin, line string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Env = append(os.Environ(), "PATH="+c.bin+":"+os.Getenv("PATH"), "KUBECONFIG="+c.Kubeconfig,
		"KUBECACHEDIR="+filepath.Join(c.dir, "kubectl-cache"), "HOME="+c.dir)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Helm runs the real helm (built by setup.sh, as kubectl is) as the admin;
// its cache, config and data stay in the test's folder (HOME).
func (c *Cluster) Helm(t testing.TB, args ...string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(c.bin, "helm")); err != nil {
		t.Fatalf("helm is not built: run `make deps` (tests/setup.sh): %v", err)
	}
	out, err := c.Shell(t, "", "helm "+shellJoin(args))
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// KubectlLine is a shell command line that runs the real kubectl as the
// admin from anywhere (no PATH or KUBECONFIG needed): for a hook another
// program runs.
func (c *Cluster) KubectlLine(args ...string) string {
	return shellJoin(append([]string{filepath.Join(c.bin, "kubectl"), "--kubeconfig", c.Kubeconfig, "--cache-dir", filepath.Join(c.dir, "kubectl-cache")}, args...))
}

func shellJoin(args []string) string {
	var q []string
	for _, a := range args {
		q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return strings.Join(q, " ")
}

// certificates makes in dir a CA, the API server's serving certificate
// (for ips besides 10.96.0.1), the admin's client certificate
// (system:masters), one for each of clients (by file name) and the
// service-account key, and returns their files by name ("admin.crt").
func certificates(t testing.TB, dir string, ips []net.IP, clients map[string]pkix.Name) map[string]string {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	save := func(name string, block *pem.Block) {
		p := filepath.Join(dir, name)
		writeFile(t, p, pem.EncodeToMemory(block))
		files[name] = p
	}
	caKey := newKey(t)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unloop-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	save("ca.crt", &pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	leaf := func(name string, subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, dns []string) {
		key := newKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano() + int64(len(files))), Subject: subject,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, DNSNames: dns}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		save(name+".crt", &pem.Block{Type: "CERTIFICATE", Bytes: der})
		save(name+".key", &pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	leaf("apiserver", pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		append([]net.IP{net.ParseIP("10.96.0.1")}, ips...), []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	leaf("admin", pkix.Name{CommonName: "unloop-test-admin", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, nil, nil)
	for name, subject := range clients {
		leaf(name, subject, x509.ExtKeyUsageClientAuth, nil, nil)
	}
	// The service-account signing key: RSA, as kubeadm makes it.
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	save("sa.key", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(sa)})
	return files
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// kubeconfig is a kubeconfig for the client certificate user (a name of
// pki: "admin") with its certificates embedded, as kubeadm writes admin.conf.
func kubeconfig(server string, pki map[string]string, user string) []byte {
	b64 := func(p string) string { b, _ := os.ReadFile(p); return base64.StdEncoding.EncodeToString(b) }
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: admin@test
  context:
    cluster: test
    user: admin
current-context: admin@test
`, server, b64(pki["ca.crt"]), b64(pki[user+".crt"]), b64(pki[user+".key"])))
}

// freePort is a TCP port on loopback that nothing listens on now.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t testing.TB, p string, b []byte) {
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
