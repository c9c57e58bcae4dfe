package trace

import "strconv"

// Ordinal is 1st, 2nd, 3rd, 4th... for people.
func Ordinal(i int) string {
	switch {
	case i%100 >= 11 && i%100 <= 13:
		return strconv.Itoa(i) + "th"
	case i%10 == 1:
		return strconv.Itoa(i) + "st"
	case i%10 == 2:
		return strconv.Itoa(i) + "nd"
	case i%10 == 3:
		return strconv.Itoa(i) + "rd"
	}
	return strconv.Itoa(i) + "th"
}
