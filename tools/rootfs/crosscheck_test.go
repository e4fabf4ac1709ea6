package rootfs

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// genLayers makes n pseudo-random layers over a small name space with
// files, symlinks (some climbing above the root), whiteouts, opaque
// directories and, if links is set, hard links; climb adds symlinks whose
// targets climb above the root. A name touched by a layer
// is never whited out by the same layer, so every correct implementation
// of the OCI rules must agree on the result.
func genLayers(t testing.TB, seed int64, n int, links, climb bool) [][]byte {
	targets := []string{"f1", "/etc/x"}
	if climb {
		targets = append(targets, "../f2", "../../../../up")
	}
	rng := rand.New(rand.NewSource(seed))
	dirs := []string{"a", "a/b", "c"}
	leaves := []string{}
	for _, d := range append([]string{""}, dirs...) {
		for _, l := range []string{"f1", "f2", "s1"} {
			leaves = append(leaves, path.Join(d, l))
		}
	}
	exists := map[string]byte{} // name -> type in the flattened state so far
	var out [][]byte
	for i := 0; i < n; i++ {
		var ents []ent
		touched := map[string]bool{}
		hidden := map[string]bool{} // whited out in this layer: nothing is added below
		touch := func(p string) {
			for q := p; q != "" && q != "."; q = path.Dir(q) {
				touched[q] = true
			}
		}
		layerState := map[string]byte{}
		for k, v := range exists {
			layerState[k] = v
		}
		// Whiteouts and opaque markers first, on names of lower layers.
		for j := 0; j < 2 && i > 0; j++ {
			var cands []string
			for k := range exists {
				cands = append(cands, k)
			}
			sort.Strings(cands)
			if len(cands) == 0 {
				break
			}
			victim := cands[rng.Intn(len(cands))]
			if touched[victim] {
				continue
			}
			if exists[victim] == tar.TypeDir && rng.Intn(2) == 0 {
				ents = append(ents, dir(victim), wh(victim+"/.wh..wh..opq"))
				touch(victim)
				for k := range layerState {
					if strings.HasPrefix(k, victim+"/") {
						delete(layerState, k)
					}
				}
				continue
			}
			ents = append(ents, wh(path.Join(path.Dir(victim), ".wh."+path.Base(victim))))
			touch(victim)
			hidden[victim] = true
			for k := range layerState {
				if k == victim || strings.HasPrefix(k, victim+"/") {
					delete(layerState, k)
				}
			}
		}
		for j := 0; j < 6; j++ {
			leaf := leaves[rng.Intn(len(leaves))]
			if touched[leaf] || hidden[path.Dir(leaf)] || hidden[path.Dir(path.Dir(leaf))] {
				continue
			}
			if d := path.Dir(leaf); d != "." {
				for _, p := range []string{"a", "a/b", "c"} {
					if (d == p || strings.HasPrefix(d, p+"/")) && !touched[p] {
						ents = append(ents, dir(p))
						layerState[p] = tar.TypeDir
					}
				}
			}
			touch(leaf)
			switch k := rng.Intn(4); {
			case k == 0:
				ents = append(ents, sym(leaf, targets[rng.Intn(len(targets))]))
				layerState[leaf] = tar.TypeSymlink
			case k == 1 && links:
				var regs []string
				for name, typ := range layerState {
					if typ == tar.TypeReg && name != leaf {
						regs = append(regs, name)
					}
				}
				sort.Strings(regs)
				if len(regs) > 0 {
					ents = append(ents, hard(leaf, regs[rng.Intn(len(regs))]))
					layerState[leaf] = tar.TypeReg
					break
				}
				fallthrough
			default:
				ents = append(ents, ent{leaf, tar.TypeReg, fmt.Sprintf("layer %d %s %d", i, leaf, rng.Int()), []int64{0o644, 0o600, 0o755}[rng.Intn(3)]})
				layerState[leaf] = tar.TypeReg
			}
		}
		exists = layerState
		out = append(out, layerTar(t, ents...))
	}
	return out
}

// extractGNU runs GNU tar on each layer after deleting what its whiteouts
// hide, the scripted reference for the OCI rules.
func extractGNU(t *testing.T, tarBin, root string, layers [][]byte) {
	for i, l := range layers {
		tr := tar.NewReader(bytes.NewReader(l))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			base, d := path.Base(h.Name), path.Dir(h.Name)
			switch {
			case base == ".wh..wh..opq":
				ents, _ := os.ReadDir(filepath.Join(root, d))
				for _, e := range ents {
					os.RemoveAll(filepath.Join(root, d, e.Name()))
				}
			case strings.HasPrefix(base, ".wh."):
				os.RemoveAll(filepath.Join(root, d, strings.TrimPrefix(base, ".wh.")))
			}
		}
		lf := filepath.Join(t.TempDir(), fmt.Sprintf("layer%d.tar", i))
		if err := os.WriteFile(lf, l, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(tarBin, "-x", "-p", "--numeric-owner", "--exclude=.wh.*", "-f", lf, "-C", root)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tar -x layer %d: %v\n%s", i, err, out)
		}
	}
}

// describeDir lists a directory tree: type, permissions, owner, size,
// content hash or link target, and link count.
func describeDir(t *testing.T, root string) []string {
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d:%d nlink=%d", rel, fi.Mode(), st.Uid, st.Gid, st.Nlink)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q mtime=%d", b, fi.ModTime().Unix())
		}
		if fi.IsDir() {
			line = fmt.Sprintf("%s %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCrossCheckGNUTar(t *testing.T) {
	tarBin := testutil.Tool(t, "tar", "tar")
	cases := map[string][][]byte{
		"hard link target replaced": {layerTar(t, file("t", "orig"), hard("l", "t"), hard("m", "t")), layerTar(t, file("t", "new"))},
		"hard link target deleted":  {layerTar(t, dir("d"), file("d/t", "orig"), hard("l", "d/t")), layerTar(t, wh(".wh.d"))},
		"hard link across layers":   {layerTar(t, file("t", "orig")), layerTar(t, hard("l", "t"))},
	}
	for seed := int64(1); seed <= 12; seed++ {
		cases[fmt.Sprint("seed", seed)] = genLayers(t, seed, 4, true, true)
	}
	var names []string
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		layers := cases[name]
		t.Run(name, func(t *testing.T) {
			ref := t.TempDir()
			extractGNU(t, tarBin, ref, layers)
			flat, err := flatten(t, layers...)
			if err != nil {
				t.Fatal(err)
			}
			got := t.TempDir()
			extractGNU(t, tarBin, got, [][]byte{flat})
			a, b := describeDir(t, ref), describeDir(t, got)
			if strings.Join(a, "\n") != strings.Join(b, "\n") {
				t.Fatalf("GNU tar + whiteouts:\n  %s\nflattened:\n  %s", strings.Join(a, "\n  "), strings.Join(b, "\n  "))
			}
		})
	}
}

// entrySet renders a tar as a sorted set of entry descriptions, for
// comparisons that ignore order. The generated layers of these comparisons
// hold no climbing symlinks, which mutate.Extract drops.
func entrySet(t *testing.T, r io.Reader) []string {
	var out []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		name := strings.TrimSuffix(path.Clean(h.Name), "/")
		out = append(out, fmt.Sprintf("%s %c %o %d:%d %q %q", name, h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid, h.Linkname, body))
	}
	sort.Strings(out)
	return out
}

func imageOf(t *testing.T, layers [][]byte) v1.Image {
	img := empty.Image
	for _, l := range layers {
		l := l
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(l)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func flattenImage(t *testing.T, img v1.Image) []byte {
	tr, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.ApplyImage(img); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := tr.Write(&out, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestCrossCheckMutateExtract(t *testing.T) {
	images := map[string]v1.Image{}
	for seed := int64(1); seed <= 12; seed++ {
		images[fmt.Sprint("generated", seed)] = imageOf(t, genLayers(t, seed, 4, false, false))
	}
	for i := int64(1); i <= 3; i++ {
		img, err := random.Image(2048, i+1)
		if err != nil {
			t.Fatal(err)
		}
		images[fmt.Sprint("random", i)] = img
	}
	var names []string
	for n := range images {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			img := images[n]
			rc := mutate.Extract(img)
			defer rc.Close()
			want := entrySet(t, rc)
			got := entrySet(t, bytes.NewReader(flattenImage(t, img)))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("mutate.Extract:\n  %s\nflattened:\n  %s", strings.Join(want, "\n  "), strings.Join(got, "\n  "))
			}
		})
	}
}

// TestBuildFromBaseTar: flattening the image once and building the rootfs
// on top of that flatten (--base-tar, what the Bazel rules do so a component
// change does not flatten the base again) gives the same bytes as building
// straight from the image, hard links and xattrs included.
func TestBuildFromBaseTar(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		dir := t.TempDir()
		img := imageOf(t, genLayers(t, seed, 3, true, false))
		spec := writeSpecFixture(t, dir)
		spec.Remove, spec.Symlinks, spec.Users, spec.Groups, spec.Units, spec.Passwords = nil, nil, nil, nil, nil, nil
		base := filepath.Join(dir, "base.tar")
		if _, err := Build(Options{Image: img, Output: base, TmpDir: dir}); err != nil {
			t.Fatal(err)
		}
		direct, layered := filepath.Join(dir, "direct.tar"), filepath.Join(dir, "layered.tar")
		if _, err := Build(Options{Image: img, Spec: spec, SpecBase: dir, Output: direct, TmpDir: dir}); err != nil {
			t.Fatal(err)
		}
		if _, err := Build(Options{BaseTar: base, Spec: spec, SpecBase: dir, Output: layered, TmpDir: dir}); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(direct)
		b, _ := os.ReadFile(layered)
		if !bytes.Equal(a, b) {
			t.Errorf("seed %d: building on the flattened base differs from building on the image:\n%s\nvs\n%s",
				seed, strings.Join(listing(t, a), "\n"), strings.Join(listing(t, b), "\n"))
		}
	}
}
