package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsStandAlone: the README and docs/ are the whole contract users
// get; they never send a reader to a design document outside the
// repository.
func TestDocsStandAlone(t *testing.T) {
	bad := regexp.MustCompile(`\.\./shared|DESIGN\.md|DESIGN(\.md)? \d`)
	files := []string{"../README.md"}
	err := filepath.WalkDir("../docs", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if bad.MatchString(line) {
				t.Errorf("%s:%d refers outside the repository: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
