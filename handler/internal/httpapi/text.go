package httpapi

import "unicode/utf8"

// TooLong reports whether s has more than n characters (Unicode code
// points, not bytes: a limit of 200 admits 200 "é"). Every length limit on
// text a caller sends (names, subjects) is counted with it.
func TooLong(s string, n int) bool { return utf8.RuneCountInString(s) > n }
