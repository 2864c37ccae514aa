module driver-{{name}}

go 1.19
