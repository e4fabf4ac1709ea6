// Package hosttool finds the external programs (Debian's e2fsck, sgdisk,
// mtools, ...) that tests and checks run on the host.
package hosttool

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// sbinDirs are searched after PATH: they hold many of the tools and are not
// always in a user's PATH.
var sbinDirs = []string{"/usr/sbin", "/sbin"}

// Find returns the path of the external program name, looked up in PATH and
// then in /usr/sbin and /sbin. When the program is missing, the error names
// debianPackage as the package to install.
func Find(name, debianPackage string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs {
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("hosttool: %s not found: install the Debian package %s", name, debianPackage)
}
