# telemetryd: the two commands a fresh Debian machine needs.
#   make run    install and start ClickHouse, build and start telemetryd, print how to use it
#   make test   install and start a private ClickHouse, run the whole test suite, stop it

.PHONY: run test build vet

build:
	go build -o bin/telemetryd ./cmd/telemetryd

run:
	./deploy/local/run.sh

test:
	./deploy/local/test.sh

vet:
	go vet ./...
