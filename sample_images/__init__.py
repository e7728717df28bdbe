"""Images generated on demand: every accepted format and shape (images), and the hostile and odd
uploads with the outcome each must get (catalogue). The tests, the local demo and load run, the
benchmark and the fuzzer's seeds all draw from here, so nothing binary is checked in."""
