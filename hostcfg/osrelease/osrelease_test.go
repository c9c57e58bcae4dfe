package osrelease

import "testing"

// The os-release files below are as the distributions ship them (the lines
// that matter here).
func TestRHELMajor(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		want       int
	}{
		{"rhel-7", `NAME="Red Hat Enterprise Linux Server"
VERSION="7.9 (Maipo)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="7.9"`, 7},
		{"centos-7", `NAME="CentOS Linux"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"`, 7},
		{"rhel-8", `ID="rhel"
ID_LIKE="fedora"
VERSION_ID="8.10"`, 8},
		{"centos-stream-8", `ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="8"`, 8},
		{"rocky-8", `ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.9"`, 8},
		{"alma-9", `ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"`, 9},
		{"oracle-9", `ID="ol"
ID_LIKE="fedora"
VERSION_ID="9.4"`, 9},
		{"rhel-9-unquoted-comments", "# comment\nID=rhel\n\nVERSION_ID=9.2\n", 9},
		{"single-quotes", "ID='rocky'\nVERSION_ID='9.3'\n", 9},
		{"other-rebuild-by-id-like", `ID="eurolinux"
ID_LIKE="rhel fedora centos"
VERSION_ID="9.2"`, 9},
		{"amazon-linux-2", `NAME="Amazon Linux"
VERSION="2"
ID="amzn"
ID_LIKE="centos rhel fedora"
VERSION_ID="2"`, 7},
		{"amazon-linux-2023", `ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"`, 0},
		{"rhel-10", `ID="rhel"
ID_LIKE="centos fedora"
VERSION_ID="10.0"`, 0},
		{"rhel-6", `ID="rhel"
VERSION_ID="6.10"`, 0},
		{"fedora", `ID=fedora
VERSION_ID=40`, 0},
		{"debian", `ID=debian
VERSION_ID="12"`, 0},
		{"ubuntu", `ID=ubuntu
ID_LIKE=debian
VERSION_ID="22.04"`, 0},
		{"empty", "", 0},
		{"junk", "\x00\x01 not=an \"os-release\nID=\"rhel\nVERSION_ID=8\n", 0},
		{"no-version", "ID=rhel\n", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse([]byte(tt.file)).RHELMajor(); got != tt.want {
				t.Errorf("RHELMajor = %d, want %d (parsed %+v)", got, tt.want, Parse([]byte(tt.file)))
			}
		})
	}
}
