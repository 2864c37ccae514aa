package rttdriver

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// PlacementsFile is a host's placements file.
const PlacementsFile = "placements.json"

// DirBackend keeps placements as files, in the layout of rtt's built-in dir
// driver: <root>/<host>/placements.json holds {"plan", "placements"};
// Stage writes placements.json.<txn> beside it and Commit renames it into
// place. Start from it, or replace it with calls to your own system.
type DirBackend struct{ Root string }

// NewDirBackend is a DirBackend over root.
func NewDirBackend(root string) *DirBackend { return &DirBackend{Root: root} }

type placementsFile struct {
	Plan       string      `json:"plan"`
	Placements []Placement `json:"placements"`
}

func (b *DirBackend) staged(host, txn string) string {
	return filepath.Join(b.Root, host, PlacementsFile+"."+txn)
}

// Stage implements Backend.
func (b *DirBackend) Stage(txn, plan string, hosts HostPlacements) (string, error) {
	for host, rows := range hosts {
		dir := filepath.Join(b.Root, host)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", err
			}
			if err := SyncDir(b.Root); err != nil {
				return "", err
			}
		}
		data, err := json.Marshal(placementsFile{Plan: plan, Placements: rows})
		if err != nil {
			return "", err
		}
		if err := WriteSynced(b.staged(host, txn), append(data, '\n')); err != nil {
			return "", err
		}
		if err := SyncDir(dir); err != nil {
			return "", err
		}
	}
	return "", nil
}

// Commit implements Backend.
func (b *DirBackend) Commit(txn string, hosts []string) error {
	for _, host := range hosts {
		staged := b.staged(host, txn)
		// Gone: renamed by a commit that crashed before its record.
		if _, err := os.Stat(staged); err == nil {
			if err := os.Rename(staged, filepath.Join(b.Root, host, PlacementsFile)); err != nil {
				return err
			}
			if err := SyncDir(filepath.Join(b.Root, host)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Abort implements Backend.
func (b *DirBackend) Abort(txn string, hosts []string) error {
	for _, host := range hosts {
		staged := b.staged(host, txn)
		if _, err := os.Stat(staged); err == nil {
			if err := os.Remove(staged); err != nil {
				return err
			}
			if err := SyncDir(filepath.Join(b.Root, host)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Read implements Backend.
func (b *DirBackend) Read(host string) ([]Placement, error) {
	var file placementsFile
	if _, err := readJSON(filepath.Join(b.Root, host, PlacementsFile), &file); err != nil {
		return nil, err
	}
	return file.Placements, nil
}

// Healthy implements Backend.
func (b *DirBackend) Healthy() bool {
	info, err := os.Stat(b.Root)
	return err == nil && info.IsDir()
}
