package remediate

// removeBlock takes the block unloop spliced into someone else's file out by
// its markers; found is false when the file holds no such block. No strategy
// on this branch splices a block yet: the dhclient strategy's RHEL hook
// (which splices one into /etc/dhcp/dhclient-enter-hooks) brings the real
// one, with this signature.
func removeBlock(path string, data []byte) (out []byte, found bool, err error) {
	return data, false, nil
}

// spliced reports whether a change from before to after splices a block in.
func spliced(path string, before, after []byte) bool {
	_, had, err := removeBlock(path, before)
	if err != nil || had {
		return false
	}
	_, found, err := removeBlock(path, after)
	return err == nil && found
}
