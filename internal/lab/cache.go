package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ModulePath is the import path of the Go module whose root holds the default
// cache directory.
const ModulePath = "github.com/netbootkit/netboot"

// CacheEnv names the environment variable that overrides the cache directory.
const CacheEnv = "NETBOOT_LAB_CACHE"

// CacheDir returns the directory where the lab keeps downloaded and derived
// artifacts (Debian kernels, probe results). It is $NETBOOT_LAB_CACHE when set,
// else <module root>/.cache/lab (git-ignored), where the module root is the
// nearest parent directory of the working directory whose go.mod declares
// [ModulePath]; failing that, the user cache directory. The directory is
// created if needed.
func CacheDir() (string, error) {
	dir := os.Getenv(CacheEnv)
	if dir == "" {
		if root, ok := moduleRoot(); ok {
			dir = filepath.Join(root, ".cache", "lab")
		} else {
			uc, err := os.UserCacheDir()
			if err != nil {
				return "", fmt.Errorf("lab: no cache directory: %w", err)
			}
			dir = filepath.Join(uc, "netboot-lab")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("lab: cache directory: %w", err)
	}
	return dir, nil
}

// moduleRoot walks up from the working directory to the go.mod of ModulePath.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if modName(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func modName(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// lockFile takes an exclusive advisory lock on path (created if needed) so
// that parallel test processes fill the cache once. The returned function
// releases it.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lab: lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: lock %s: %w", path, err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
