package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var manifestDir = filepath.Join("..", "..", "docker", "kubernetes")

func load(t *testing.T) []Document {
	t.Helper()
	docs, err := LoadDir(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// Every manifest decodes into the API types with unknown fields refused, and the kustomization
// lists every manifest in the directory (so `kubectl apply -k` applies them all).
func TestManifestsDecodeStrictly(t *testing.T) {
	docs := load(t)
	k, _ := LoadKustomization(manifestDir)
	listed := map[string]bool{}
	for _, r := range k.Resources {
		listed[r] = true
	}
	files, _ := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && !listed[base] {
			t.Errorf("%s is not listed in kustomization.yaml", base)
		}
	}
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[d.Kind]++
	}
	want := map[string]int{"ConfigMap": 2, "Deployment": 2, "DaemonSet": 1, "Service": 1}
	for kind, n := range want {
		if kinds[kind] != n {
			t.Errorf("expected %d %s, found %d (%v)", n, kind, kinds[kind], kinds)
		}
	}
}

// A typo in a field name, anywhere, fails: the proof that the decoding above is strict.
func TestTypoInAFieldNameFails(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(manifestDir, "sidecar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeStrict("sidecar.yaml", data); err != nil {
		t.Fatalf("the unchanged file must decode: %v", err)
	}
	// Each key misspelt where it is a key (first at the start of a line, never in a comment).
	typos := map[string]string{
		"shareProcessNamespace":    "shareProcessNamspace",
		"readinessProbe":           "readynessProbe",
		"allowPrivilegeEscalation": "allowPrivilegeEscalaton",
		"sizeLimit":                "sizelimit", // case matters, as in the API server
		"mountPath":                "mountpath",
		"fieldRef":                 "fieldref",
	}
	for from, to := range typos {
		key := regexp.MustCompile(`(?m)(^[ -]*|[{,] *)` + from + `:`)
		loc := key.FindStringIndex(string(data))
		if loc == nil {
			t.Fatalf("sidecar.yaml no longer has the key %q; pick another field to misspell", from)
		}
		bad := string(data[:loc[0]]) + strings.Replace(string(data[loc[0]:loc[1]]), from, to, 1) + string(data[loc[1]:])
		_, err := DecodeStrict("sidecar.yaml", []byte(bad))
		if err == nil || !strings.Contains(err.Error(), "unknown field") || !strings.Contains(err.Error(), to) {
			t.Errorf("misspelling %q as %q: expected an unknown-field error naming %q, got %v", from, to, to, err)
		}
	}
	// A wrongly typed value fails too.
	bad := strings.Replace(string(data), "replicas: 1", "replicas: one", 1)
	if _, err := DecodeStrict("sidecar.yaml", []byte(bad)); err == nil {
		t.Error("replicas: one decoded without an error")
	}
	// And so does a misspelt key of the kustomization.
	dir := t.TempDir()
	k, _ := os.ReadFile(filepath.Join(manifestDir, "kustomization.yaml"))
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(strings.Replace(string(k), "resources:", "resource:", 1)), 0o644)
	if _, err := LoadKustomization(dir); err == nil || !strings.Contains(err.Error(), "resource") {
		t.Errorf("a misspelt kustomization key: expected an error, got %v", err)
	}
}

func containerNamed(spec *corev1.PodSpec, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// The downward-API variables the agent reads (agent/watch/k8s.hpp).
func agentPodVariables(t *testing.T) []string {
	src, err := os.ReadFile(filepath.Join("..", "..", "agent", "watch", "k8s.hpp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`\{"(K8S_[A-Z_]+)", "k8s\.[a-z.]+"\}`).FindAllStringSubmatch(string(src), -1) {
		names = append(names, m[1])
	}
	sort.Strings(names)
	if len(names) != 4 {
		t.Fatalf("expected 4 downward-API variables in agent/watch/k8s.hpp, found %v", names)
	}
	return names
}

// What each workload promises: volumes and ConfigMaps that exist, probes on ports the container
// names, resources, a non-root user with only the capabilities it needs, the downward API.
func TestWorkloadsAreConsistent(t *testing.T) {
	docs := load(t)
	configMaps := map[string]*corev1.ConfigMap{}
	for _, d := range docs {
		if cm, ok := d.Object.(*corev1.ConfigMap); ok {
			configMaps[cm.Name] = cm
		}
	}
	podVars := agentPodVariables(t)
	for name, tmpl := range PodSpecs(docs) {
		spec := &tmpl.Spec
		volumes := map[string]corev1.Volume{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = v
			if v.ConfigMap != nil && configMaps[v.ConfigMap.Name] == nil {
				t.Errorf("%s: volume %s names ConfigMap %s, which no manifest defines", name, v.Name, v.ConfigMap.Name)
			}
		}
		for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			for _, m := range c.VolumeMounts {
				if _, ok := volumes[m.Name]; !ok {
					t.Errorf("%s: container %s mounts volume %s, which the pod does not have", name, c.Name, m.Name)
				}
			}
			ports := map[string]bool{}
			for _, p := range c.Ports {
				ports[p.Name] = true
			}
			for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
				if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.StrVal != "" && !ports[p.HTTPGet.Port.StrVal] {
					t.Errorf("%s: %s's %s probe uses port %q, which it does not name", name, c.Name, kind, p.HTTPGet.Port.StrVal)
				}
			}
		}
		sl := containerNamed(spec, "sidelight")
		if sl == nil {
			t.Errorf("%s: no container named sidelight", name)
			continue
		}
		checkSidelight(t, name, spec, sl, podVars)
	}
}

func checkSidelight(t *testing.T, name string, spec *corev1.PodSpec, c *corev1.Container, podVars []string) {
	t.Helper()
	daemon := strings.HasPrefix(name, "DaemonSet/")
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() ||
		c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("%s: sidelight needs memory requests and limits and a CPU request", name)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s: sidelight must run as a numeric non-root user", name)
	} else {
		caps := sc.Capabilities
		if caps == nil || len(caps.Drop) != 1 || caps.Drop[0] != "ALL" {
			t.Errorf("%s: sidelight must drop ALL capabilities before adding its own", name)
		}
		allowed := map[corev1.Capability]bool{"SYS_PTRACE": true, "DAC_READ_SEARCH": true, "NET_ADMIN": daemon}
		for _, a := range caps.Add {
			if !allowed[a] {
				t.Errorf("%s: capability %s is not one sidelight uses here", name, a)
			}
		}
		if sc.AllowPrivilegeEscalation == nil || !*sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be true, or the kernel ignores the binary's file capabilities", name)
		}
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("%s: sidelight's liveness probe must be GET /healthz", name)
	}
	env := map[string]*corev1.EnvVarSource{}
	for _, e := range c.Env {
		env[e.Name] = e.ValueFrom
	}
	if daemon {
		if !spec.HostPID {
			t.Errorf("%s: a DaemonSet watching the node needs hostPID", name)
		}
		if env["K8S_NODE_NAME"] == nil || env["K8S_POD_NAME"] != nil {
			t.Errorf("%s: the DaemonSet passes K8S_NODE_NAME only (its targets are the node's, not its pod's)", name)
		}
		return
	}
	if spec.ShareProcessNamespace == nil || !*spec.ShareProcessNamespace {
		t.Errorf("%s: a sidecar needs shareProcessNamespace: true", name)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz?upstream=ignore" {
		t.Errorf("%s: a sidecar's readiness must leave the upstream out (/readyz?upstream=ignore)", name)
	}
	for _, v := range podVars {
		if env[v] == nil || env[v].FieldRef == nil {
			t.Errorf("%s: sidelight lacks %s from the downward API", name, v)
		}
	}
	for _, init := range spec.InitContainers {
		if init.Name == "sidelight" && (init.RestartPolicy == nil || *init.RestartPolicy != corev1.ContainerRestartPolicyAlways || init.StartupProbe == nil) {
			t.Errorf("%s: a native sidecar needs restartPolicy: Always and a startupProbe", name)
		}
	}
	app := containerNamed(spec, "app")
	if app == nil {
		t.Fatalf("%s: no app container", name)
	}
	appEnv := map[string]string{}
	for _, e := range app.Env {
		appEnv[e.Name] = e.Value
	}
	if appEnv["OTEL_EXPORTER_OTLP_ENDPOINT"] != "unix:///run/sidelight/sockets/otlp.sock" {
		t.Errorf("%s: the app's OTEL_EXPORTER_OTLP_ENDPOINT must name the sidecar's socket", name)
	}
}

// Each ConfigMap's sidelight.yaml is a configuration sidelight accepts (`check-config`), with the
// environment the pod gives it. SIDELIGHT_BINARY names the binary; without it the test is skipped.
func TestConfigMapsPassCheckConfig(t *testing.T) {
	binary := os.Getenv("SIDELIGHT_BINARY")
	if binary == "" {
		t.Skip("SIDELIGHT_BINARY is not set: the ConfigMaps' configurations are not checked")
	}
	for _, d := range load(t) {
		cm, ok := d.Object.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		text, ok := cm.Data["sidelight.yaml"]
		if !ok {
			t.Errorf("ConfigMap %s has no sidelight.yaml", cm.Name)
			continue
		}
		path := filepath.Join(t.TempDir(), "sidelight.yaml")
		os.WriteFile(path, []byte(text), 0o644)
		out, err := exec.Command(binary, "check-config", "--config", path).CombinedOutput()
		if err != nil {
			t.Errorf("ConfigMap %s: sidelight check-config: %v\n%s", cm.Name, err, out)
		}
	}
}
