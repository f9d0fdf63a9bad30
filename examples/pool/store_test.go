package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStorePersistsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool.json")
	s, err := OpenStore(path)
	require.NoError(t, err)
	assert.Empty(t, s.Machines())
	_, err = os.Stat(path)
	assert.True(t, errors.Is(err, os.ErrNotExist), "opening must not create the file")

	m, err := s.Seen(Sighting{MAC: "52-54-00-AA-BB-01", UUID: "u1", Arch: "x86_64", Stage: StageWaiting})
	require.NoError(t, err)
	assert.Equal(t, "52:54:00:aa:bb:01", m.MAC)
	assert.False(t, m.FirstSeen.IsZero())
	_, err = s.Seen(Sighting{MAC: "525400aabb02", Stage: StageDHCP})
	require.NoError(t, err)
	require.NoError(t, s.Assign([]string{"52:54:00:aa:bb:01", "52:54:00:aa:bb:02"}, "debian"))
	require.NoError(t, s.Rename("52:54:00:aa:bb:01", "rack1 node-1"))

	// A later sighting keeps names and assignments and the first-seen time.
	first := m.FirstSeen
	m, err = s.Seen(Sighting{MAC: "52:54:00:aa:bb:01", Stage: StageScript})
	require.NoError(t, err)
	assert.Equal(t, "rack1 node-1", m.Name)
	assert.Equal(t, "debian", m.Image)
	assert.Equal(t, "u1", m.UUID, "an empty field must not erase a known value")
	assert.Equal(t, first, m.FirstSeen)

	// A second process (restart) sees exactly the same state.
	s2, err := OpenStore(path)
	require.NoError(t, err)
	assert.Equal(t, s.Machines(), s2.Machines())
	require.NoError(t, s2.Assign([]string{"52:54:00:aa:bb:02"}, ""))
	s3, err := OpenStore(path)
	require.NoError(t, err)
	got, ok := s3.Machine("52:54:00:aa:bb:02")
	require.True(t, ok)
	assert.Empty(t, got.Image)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestStoreAssignIsAllOrNothing(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "pool.json"))
	require.NoError(t, err)
	_, err = s.Seen(Sighting{MAC: "52:54:00:00:00:01"})
	require.NoError(t, err)
	err = s.Assign([]string{"52:54:00:00:00:01", "52:54:00:00:00:99"}, "debian")
	assert.ErrorIs(t, err, ErrUnknownMachine)
	m, _ := s.Machine("52:54:00:00:00:01")
	assert.Empty(t, m.Image, "a refused selection must change no machine")

	assert.ErrorIs(t, s.Assign([]string{"52:54:00:00:00:01"}, "../etc"), ErrInvalid)
	assert.ErrorIs(t, s.Rename("52:54:00:00:00:01", "x\n#!ipxe"), ErrInvalid)
	assert.ErrorIs(t, s.Rename("52:54:00:00:00:99", "ok"), ErrUnknownMachine)
	_, err = s.Seen(Sighting{MAC: "not-a-mac"})
	assert.ErrorIs(t, err, ErrInvalid)
}

// A failed write (here: the directory vanished) reports the error and leaves the
// in-memory state as it was: no acknowledged change is ever missing from disk.
func TestStoreFailedWriteChangesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	require.NoError(t, os.Mkdir(dir, 0o755))
	s, err := OpenStore(filepath.Join(dir, "pool.json"))
	require.NoError(t, err)
	_, err = s.Seen(Sighting{MAC: "52:54:00:00:00:01"})
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dir))

	assert.Error(t, s.Assign([]string{"52:54:00:00:00:01"}, "debian"))
	m, _ := s.Machine("52:54:00:00:00:01")
	assert.Empty(t, m.Image)
	_, err = s.Seen(Sighting{MAC: "52:54:00:00:00:02"})
	assert.Error(t, err)
	assert.Len(t, s.Machines(), 1)
}

// A crash during a write leaves the old file plus a temporary file; the next
// start reads the old state and removes the leftover.
func TestStoreCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pool.json")
	s, err := OpenStore(path)
	require.NoError(t, err)
	_, err = s.Seen(Sighting{MAC: "52:54:00:00:00:01"})
	require.NoError(t, err)
	leftover := filepath.Join(dir, ".pool.json.tmp123456")
	require.NoError(t, os.WriteFile(leftover, []byte(`{"version":1,"machines":{"52:54`), 0o600))

	s2, err := OpenStore(path)
	require.NoError(t, err)
	assert.Len(t, s2.Machines(), 1)
	_, err = os.Stat(leftover)
	assert.True(t, errors.Is(err, os.ErrNotExist), "leftover temp file must be removed")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, ents, 1, "after writes only the state file remains")
}

func TestStoreRefusesCorruptFile(t *testing.T) {
	good := `{"version":1,"machines":{"52:54:00:00:00:01":{"mac":"52:54:00:00:00:01","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"}}}`
	for name, body := range map[string]string{
		"truncated":     good[:len(good)/2],
		"empty":         "",
		"garbage":       "\x00\x01binary",
		"trailing":      good + " {}",
		"wrong version": strings.Replace(good, `"version":1`, `"version":7`, 1),
		"unknown field": strings.Replace(good, `"version":1`, `"version":1,"x":2`, 1),
		"key mismatch":  strings.Replace(good, `{"mac":"52:54:00:00:00:01"`, `{"mac":"52:54:00:00:00:02"`, 1),
		"bad key":       strings.ReplaceAll(good, "52:54:00:00:00:01", "../../etc"),
		"bad name":      strings.Replace(good, `"mac":"52:54:00:00:00:01"`, `"mac":"52:54:00:00:00:01","name":"a\nb"`, 1),
		"bad image":     strings.Replace(good, `"mac":"52:54:00:00:00:01"`, `"mac":"52:54:00:00:00:01","image":"../x"`, 1),
		"null machine":  `{"version":1,"machines":{"52:54:00:00:00:01":null}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pool.json")
			require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
			_, err := OpenStore(path)
			require.ErrorIs(t, err, ErrCorrupt)
			data, _ := os.ReadFile(path)
			assert.Equal(t, body, string(data), "a corrupt file must be left for the operator")
		})
	}
	path := filepath.Join(t.TempDir(), "pool.json")
	require.NoError(t, os.WriteFile(path, []byte(good), 0o600))
	s, err := OpenStore(path)
	require.NoError(t, err)
	assert.Len(t, s.Machines(), 1)
}

func TestStoreFileIsValidJSONAfterEveryChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool.json")
	s, err := OpenStore(path)
	require.NoError(t, err)
	s.now = func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
	for i, mac := range []string{"52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"} {
		_, err := s.Seen(Sighting{MAC: mac})
		require.NoError(t, err)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		var st state
		require.NoError(t, json.Unmarshal(data, &st))
		assert.Len(t, st.Machines, i+1)
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"version":1,"machines":{"52:54:00:00:00:01":{"mac":"52:54:00:00:00:01","name":"n1","image":"debian","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"}}}`))
	f.Add([]byte(`{"version":1,"machines":{}}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeState(data)
		if err != nil {
			return
		}
		// Anything accepted holds only canonical MACs and valid names.
		for k, m := range st.Machines {
			mac, err := ParseMAC(k)
			if err != nil || mac != k || m.MAC != k {
				t.Fatalf("accepted bad key %q", k)
			}
			if m.Name != "" && ValidName(m.Name) != nil {
				t.Fatalf("accepted bad name %q", m.Name)
			}
			if m.Image != "" && ValidImageName(m.Image) != nil {
				t.Fatalf("accepted bad image %q", m.Image)
			}
		}
	})
}

func TestStoreMachineLimit(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "pool.json"))
	require.NoError(t, err)
	s.MaxMachines = 2
	for _, mac := range []string{"52:54:00:00:00:01", "52:54:00:00:00:02"} {
		_, err := s.Seen(Sighting{MAC: mac})
		require.NoError(t, err)
	}
	_, err = s.Seen(Sighting{MAC: "52:54:00:00:00:03"})
	assert.ErrorIs(t, err, ErrFull)
	_, err = s.Seen(Sighting{MAC: "52:54:00:00:00:01", Stage: StageWaiting})
	assert.NoError(t, err, "known machines are still recorded")
	assert.Len(t, s.Machines(), 2)
}
