"""``go test`` lets a test write into its package directory, as on a workstation (Exercism's exercises do): the
tests run in a writable copy of it on the sandbox's /tmp, with the package's files (testdata/ too) in it."""

from __future__ import annotations

from fastapi.testclient import TestClient

POEM = """package poem

import (
	"os"
	"testing"
)

func TestWritesIntoItsPackageDirectory(t *testing.T) {
	if err := os.WriteFile("iliad.txt", []byte("Sing, O goddess"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("iliad.txt")
	if err != nil || string(data) != "Sing, O goddess" {
		t.Fatalf("read back %q, %v", data, err)
	}
	if kept, err := os.ReadFile("testdata/odyssey.txt"); err != nil || string(kept) != "Tell me, O muse" {
		t.Fatalf("testdata: %q, %v", kept, err)
	}
	wd, _ := os.Getwd()
	t.Log("in", wd)
}
"""


def test_a_test_writes_a_file_into_its_package_directory(sandbox_app: TestClient) -> None:
    files = {"go.mod": "module poem\n\ngo 1.22\n", "poem.go": "package poem\n", "poem_test.go": POEM,
             "testdata/odyssey.txt": "Tell me, O muse"}  # fmt: skip
    response = sandbox_app.post("/test", json={"files": files, "count": 1})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["passed"], result
    [test] = result["tests"]
    assert "in /tmp/gosandbox-pkg" in test["output"], test
