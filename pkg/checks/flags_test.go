package checks

import (
	"reflect"
	"testing"
)

func TestParseCommandLine(t *testing.T) {
	tests := []struct {
		name   string
		argv   []string
		binary string
		get    map[string]string // flag -> value by Get (last wins)
		absent []string
		args   []string
	}{
		{
			name: "kubeadm kube-controller-manager: --flag=value, one per item",
			argv: []string{"kube-controller-manager", "--allocate-node-cidrs=true", "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
				"--bind-address=127.0.0.1", "--client-ca-file=/etc/kubernetes/pki/ca.crt", "--cluster-name=kubernetes",
				"--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt", "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key",
				"--controllers=*,bootstrapsigner,tokencleaner", "--leader-elect=true",
				"--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt", "--root-ca-file=/etc/kubernetes/pki/ca.crt",
				"--service-account-private-key-file=/etc/kubernetes/pki/sa.key", "--use-service-account-credentials=true"},
			binary: "kube-controller-manager",
			get: map[string]string{"root-ca-file": "/etc/kubernetes/pki/ca.crt", "client-ca-file": "/etc/kubernetes/pki/ca.crt",
				"requestheader-client-ca-file": "/etc/kubernetes/pki/front-proxy-ca.crt", "controllers": "*,bootstrapsigner,tokencleaner",
				"leader-elect": "true"},
			absent: []string{"kubelet-certificate-authority"},
		},
		{
			name: "--flag value, a bare boolean, a full binary path",
			argv: []string{"/usr/local/bin/kube-apiserver", "--client-ca-file", "/srv/pki/ca.crt", "--allow-privileged",
				"--tls-cert-file", "/srv/pki/apiserver.crt", "-v", "2", "--profiling"},
			binary: "kube-apiserver",
			get: map[string]string{"client-ca-file": "/srv/pki/ca.crt", "allow-privileged": "true", "tls-cert-file": "/srv/pki/apiserver.crt",
				"v": "2", "profiling": "true"},
		},
		{
			name:   "a boolean never takes the next argument; an unknown flag before a flag is boolean",
			argv:   []string{"kube-apiserver", "--anonymous-auth", "extra-arg", "--some-new-switch", "--secure-port=6443"},
			binary: "kube-apiserver",
			get:    map[string]string{"anonymous-auth": "true", "some-new-switch": "true", "secure-port": "6443"},
			args:   []string{"extra-arg"},
		},
		{
			name:   "repeated flags: the last wins for Get",
			argv:   []string{"kube-apiserver", "--client-ca-file=/a/ca.crt", "--client-ca-file=/b/ca-bundle.crt", "--empty=", "--", "--not-a-flag"},
			binary: "kube-apiserver",
			get:    map[string]string{"client-ca-file": "/b/ca-bundle.crt", "empty": ""},
			args:   []string{"--not-a-flag"},
		},
		{
			name:   "wrapped in sh -c with quotes and exec",
			argv:   []string{"/bin/sh", "-c", `exec /usr/bin/kube-apiserver --client-ca-file="/etc/k8s/pki/ca.crt" --tls-cert-file '/etc/k8s/my pki/api.crt' --v=2; echo done`},
			get:    map[string]string{"client-ca-file": "/etc/k8s/pki/ca.crt", "tls-cert-file": "/etc/k8s/my pki/api.crt", "v": "2"},
			binary: "kube-apiserver",
		},
		{
			name: "args only (command empty): no binary",
			argv: []string{"--root-ca-file=/x/ca.crt"},
			get:  map[string]string{"root-ca-file": "/x/ca.crt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := ParseCommandLine(tt.argv, nil)
			if cl.Binary != tt.binary {
				t.Errorf("Binary = %q, want %q", cl.Binary, tt.binary)
			}
			for name, want := range tt.get {
				got, ok := cl.Get(name)
				if !ok || got != want {
					t.Errorf("Get(%q) = %q, %v; want %q", name, got, ok, want)
				}
			}
			for _, name := range tt.absent {
				if v, ok := cl.Get(name); ok {
					t.Errorf("Get(%q) = %q, want absent", name, v)
				}
			}
			if !reflect.DeepEqual(cl.Args, tt.args) {
				t.Errorf("Args = %q, want %q", cl.Args, tt.args)
			}
		})
	}
}

func TestCommandLineValues(t *testing.T) {
	cl := ParseCommandLine([]string{"kube-apiserver", "--tls-sni-cert-key=/a.crt,/a.key", "--tls-sni-cert-key", "/b.crt,/b.key",
		"--enable-admission-plugins=NodeRestriction, PodSecurity"}, nil)
	if got, want := cl.Values("tls-sni-cert-key"), []string{"/a.crt", "/a.key", "/b.crt", "/b.key"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Values(tls-sni-cert-key) = %q, want %q", got, want)
	}
	if got, want := cl.Values("enable-admission-plugins"), []string{"NodeRestriction", "PodSecurity"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Values(enable-admission-plugins) = %q, want %q", got, want)
	}
	if got := cl.Values("missing"); got != nil {
		t.Errorf("Values(missing) = %q, want nil", got)
	}
}

func TestShellWordsUnbalanced(t *testing.T) {
	argv := []string{"sh", "-c", `kube-apiserver --a="unterminated`}
	cl := ParseCommandLine(argv, nil)
	// Unsplittable: left as is, so "sh" is the binary and nothing is guessed.
	if cl.Binary != "sh" || len(cl.Flags) != 1 || cl.Flags[0].Name != "c" {
		t.Errorf("got %+v, want the wrapper left alone", cl)
	}
}

func TestOriginalAndVariantPath(t *testing.T) {
	tests := []struct{ in, orig, bundle, newer string }{
		{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca-bundle.crt", "/etc/kubernetes/pki/ca-new.crt"},
		{"/etc/kubernetes/pki/ca-bundle.crt", "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca-bundle.crt", "/etc/kubernetes/pki/ca-new.crt"},
		{"/etc/kubernetes/pki/ca-new.key", "/etc/kubernetes/pki/ca.key", "/etc/kubernetes/pki/ca-bundle.key", "/etc/kubernetes/pki/ca-new.key"},
		{"/p/front-proxy-ca.crt", "/p/front-proxy-ca.crt", "/p/front-proxy-ca-bundle.crt", "/p/front-proxy-ca-new.crt"},
		{"/p/apiserver-new.crt", "/p/apiserver.crt", "/p/apiserver-bundle.crt", "/p/apiserver-new.crt"},
		{"/p/-new.crt", "/p/-new.crt", "/p/-new-bundle.crt", "/p/-new-new.crt"},
	}
	for _, tt := range tests {
		if got := OriginalPath(tt.in); got != tt.orig {
			t.Errorf("OriginalPath(%q) = %q, want %q", tt.in, got, tt.orig)
		}
		if got := VariantPath(tt.in, "bundle"); got != tt.bundle {
			t.Errorf("VariantPath(%q, bundle) = %q, want %q", tt.in, got, tt.bundle)
		}
		if got := VariantPath(tt.in, "new"); got != tt.newer {
			t.Errorf("VariantPath(%q, new) = %q, want %q", tt.in, got, tt.newer)
		}
	}
}
