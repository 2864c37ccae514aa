module rttdriver

go 1.19
