package hostcfg

// ReadEach reads each of paths that is there and hands its bytes to use,
// collecting the errors of all of them: one bad file never hides the others.
// A path that is missing, or a dangling link, is absent, as it is to the
// programs that read these files; a link loop or a folder is unreadable.
func ReadEach(r *Root, paths []string, use func(path string, data []byte) error) []error {
	var errs []error
	for _, p := range paths {
		data, ok, err := r.ReadFileIfExists(p)
		if err == nil && ok {
			err = use(p, data)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
