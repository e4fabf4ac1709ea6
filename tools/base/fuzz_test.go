package base

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// lockSeed is ic-os/guestos/context/base.lock.json cut to three packages.
const lockSeed = `{
  "format": 2,
  "os": "guestos",
  "variant": "prod",
  "image": {
    "repository": "icos/guestos-base",
    "digest": "sha256:ad199a63c6f249a576eb27ad593d275f7ee7f3412257bfd184e76ad7ab3231a8"
  },
  "source_date_epoch": 1795651200,
  "debian": {
    "suite": "bookworm",
    "suites": [
      "bookworm",
      "bookworm-security",
      "bookworm-updates"
    ],
    "components": [
      "main"
    ],
    "architecture": "amd64",
    "variant": "apt"
  },
  "requested": [
    "zstd"
  ],
  "packages": [
    {
      "name": "libc6",
      "version": "2.36-9+deb12u14",
      "architecture": "amd64",
      "sha256": "ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf"
    },
    {
      "name": "libzstd1",
      "version": "1.5.4+dfsg2-5",
      "architecture": "amd64",
      "sha256": "6315b5ac38b724a710fb96bf1042019398cb656718b1522279a5185ed39318fa"
    },
    {
      "name": "zstd",
      "version": "1.5.4+dfsg2-5",
      "architecture": "amd64",
      "sha256": "3f6f833ae2fd533a0c9238310aef1148f51a64aa5d5f1278451ddc793d4d6d15"
    }
  ],
  "builder": {
    "id": "sha256:c6eb92b623c74111f8f785e14bc4c41e766bdf45e4aeb4891f600f7694e038cc",
    "tools": {
      "apt": "2.6.2",
      "dpkg": "1.21.23",
      "mmdebstrap": "1.3.5-7"
    }
  }
}
`

// builderLockSeed is toolchains/base-builder/builder.lock.json cut to the
// builder tools.
const builderLockSeed = `{
  "format": 1,
  "debian": {
    "suite": "bookworm",
    "suites": [
      "bookworm",
      "bookworm-security",
      "bookworm-updates"
    ],
    "components": [
      "main"
    ],
    "architecture": "amd64",
    "variant": "apt"
  },
  "requested": [
    "mmdebstrap"
  ],
  "packages": [
    {
      "name": "apt",
      "version": "2.6.2",
      "architecture": "amd64",
      "sha256": "796fc7fe18866f5b1fb27a115d7339e549d71b7ddbc15b8d6fc4226c243e96d1"
    },
    {
      "name": "dpkg",
      "version": "1.21.23",
      "architecture": "amd64",
      "sha256": "f89e9f8d1a4a50ade44be3ed59a6ec55460fce205d2f8520c5c492137c5b609b"
    },
    {
      "name": "mmdebstrap",
      "version": "1.3.5-7",
      "architecture": "all",
      "sha256": "0ecb8da772c8e5b7f73b59cb6d1f02d789f8bcd9a6b5f19ed548fe12c26a76ca"
    }
  ]
}
`

// FuzzLockJSON feeds the same bytes to the base lock and the builder lock
// readers: they never panic, their errors name the file, and a lock they
// accept is written (as WriteLock and WriteBuilderLock do) to JSON that
// reads back to the same lock and is written again byte for byte.
func FuzzLockJSON(f *testing.F) {
	if err := decodeJSON([]byte(lockSeed), "seed", "lock", &Lock{}); err != nil {
		f.Fatal(err)
	}
	if err := decodeJSON([]byte(builderLockSeed), "seed", "builder lock", &BuilderLock{}); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(lockSeed))
	f.Add([]byte(builderLockSeed))
	f.Add([]byte(strings.Replace(lockSeed, `"format": 2`, `"format": 1`, 1)))
	f.Add([]byte(lockSeed + "{}"))
	f.Add([]byte(`{"format": 2, "packages": [{"name": "a"}], "builder": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l Lock
		roundTrip(t, data, "lock", &l, func() validated {
			sort.Slice(l.Packages, func(i, j int) bool { return l.Packages[i].Name < l.Packages[j].Name })
			sort.Strings(l.Requested)
			return &Lock{}
		})
		var b BuilderLock
		roundTrip(t, data, "builder lock", &b, func() validated {
			sort.Slice(b.Packages, func(i, j int) bool { return b.Packages[i].Name < b.Packages[j].Name })
			sort.Strings(b.Requested)
			_ = b.ID()
			return &BuilderLock{}
		})
	})
}

// roundTrip decodes data into v; when that succeeds, prepare sorts v as
// the writer does and returns a fresh value to decode the written JSON into.
func roundTrip(t *testing.T, data []byte, what string, v validated, prepare func() validated) {
	t.Helper()
	if err := decodeJSON(data, "f.json", what, v); err != nil {
		if !strings.HasPrefix(err.Error(), "base: "+what+" f.json: ") {
			t.Fatalf("%s: error %q does not name the file", what, err)
		}
		return
	}
	fresh := prepare()
	if err := v.Validate(); err != nil {
		t.Fatalf("%s: sorting made a valid lock invalid: %v", what, err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := decodeJSON(out, "g.json", what, fresh); err != nil {
		t.Fatalf("%s: written JSON does not read back: %v\n%s", what, err, out)
	}
	if !reflect.DeepEqual(v, fresh) {
		t.Fatalf("%s: round trip changed the lock:\n%+v\n%+v", what, v, fresh)
	}
	again, _ := json.MarshalIndent(fresh, "", "  ")
	if !bytes.Equal(out, again) {
		t.Fatalf("%s: written twice, the JSON differs:\n%s\n%s", what, out, again)
	}
}
