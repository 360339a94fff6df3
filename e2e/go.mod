module talentreg/e2e

go 1.26.0

require talentreg/gen v0.0.0

replace talentreg/gen => ../gen
