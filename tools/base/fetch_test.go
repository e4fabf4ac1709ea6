package base

import (
	"bytes"
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/icos-build/icos/tools/oci"
)

// testImage returns a small image whose digest depends on host.
func testImage(t *testing.T, host string) (v1.Image, v1.Hash) {
	t.Helper()
	img, err := mutate.Config(empty.Image, v1.Config{Hostname: host})
	if err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return img, h
}

func TestFetchOrBuild(t *testing.T) {
	pinned, pinnedHash := testImage(t, "pinned")
	other, otherHash := testImage(t, "other")
	tests := []struct {
		name         string
		inStore      bool     // the pinned image is in the store beforehand
		buildMissing bool     // --build-missing
		allow        bool     // ICOS_ALLOW_UNPINNED_BASE
		builds       v1.Image // what the (fake) build produces
		want         FetchResult
		wantErr      []string
		wantBuilds   int
	}{
		{name: "in store", inStore: true, buildMissing: true, builds: pinned, want: FetchResult{Digest: pinnedHash, Pinned: true}},
		{name: "missing, no build", wantErr: []string{"not found", "icos base build"}},
		{name: "missing, built to the pin", buildMissing: true, builds: pinned, want: FetchResult{Digest: pinnedHash, Built: true, Pinned: true}, wantBuilds: 1},
		{name: "missing, build differs", buildMissing: true, builds: other, wantBuilds: 1,
			wantErr: []string{otherHash.String(), pinnedHash.String(), EnvAllowUnpinned, "icos base verify",
				"the 2 installed packages equal the lock", validBuilderLock().ID(), "mmdebstrap 1.3.5-7"}},
		{name: "missing, build differs, allowed", buildMissing: true, allow: true, builds: other, wantBuilds: 1,
			want: FetchResult{Digest: otherHash, Built: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store, err := oci.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if tc.inStore {
				if _, err := store.Put(pinned, ""); err != nil {
					t.Fatal(err)
				}
			}
			l := validLock()
			l.Image.Digest = pinnedHash.String()
			c := Context{Dir: "ic-os/guestos/context", OS: "guestos", Variant: "prod"}
			builds, builders := 0, 0
			var log bytes.Buffer
			builder := &Builder{Lock: validBuilderLock()}
			opt := FetchOptions{BuildMissing: tc.buildMissing, AllowUnpinned: tc.allow, Log: &log,
				Builder: func() (*Builder, error) { builders++; return builder, nil },
				build: func(_ *Lock, b BuildOptions) (*Result, error) {
					builds++
					if b.Builder != builder {
						t.Error("build without the builder")
					}
					h, err := b.Store.Put(tc.builds, "")
					return &Result{Digest: h, Packages: l.Packages}, err
				}}
			got, err := FetchOrBuild(context.Background(), l, c, store, opt)
			if builds != tc.wantBuilds {
				t.Errorf("%d builds, want %d", builds, tc.wantBuilds)
			}
			// The builder is made only when a build is needed.
			if builders != tc.wantBuilds {
				t.Errorf("builder made %d times, want %d", builders, tc.wantBuilds)
			}
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, result %+v", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if _, err := store.Image(got.Digest); err != nil {
				t.Errorf("result not in the store: %v", err)
			}
			if tc.builds != nil && tc.wantBuilds > 0 && !strings.Contains(log.String(), "building it from") {
				t.Errorf("no progress message:\n%s", log.String())
			}
		})
	}
}
