package ibft

import "testing"

func BenchmarkMarshalBinary(b *testing.B) {
	tb := fullTable()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tb.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalBinary(b *testing.B) {
	data, err := fullTable().MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var tb Table
		if err := tb.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadSysfs(b *testing.B) {
	fsys := mapFS(linuxSysfsView(fullTable()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadSysfs(fsys); err != nil {
			b.Fatal(err)
		}
	}
}
