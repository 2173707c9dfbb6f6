'use strict'
// Differential-test generator: writes version/range pairs and node-semver's verdicts.
//
// usage: node gen.js <node_modules dir> <out file> [pairs] [seed]
//
// Every line is tab-separated, strings hex-encoded (UTF-8) so any byte survives:
//   P <version> <range> <range_valid><version_valid><satisfies> <range.range or "">
//   I <range a> <range b> <a.intersects(b) as 0/1>
// The generator is deterministic for a given seed; the verdicts come only from the
// `semver` package (the oracle), never from us.

const path = require('path')
const fs = require('fs')

const [modDir, outFile, pairsArg, seedArg] = process.argv.slice(2)
if (!modDir || !outFile) {
  console.error('usage: node gen.js <node_modules dir> <out file> [pairs] [seed]')
  process.exit(2)
}
const semver = require(path.join(modDir, 'semver'))
const PAIRS = Number(pairsArg || 8000)
let seed = Number(seedArg || 20261127) >>> 0

// mulberry32: small, seedable, good enough to spread cases.
const rnd = () => {
  seed = (seed + 0x6D2B79F5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const int = (n) => Math.floor(rnd() * n)
const pick = (a) => a[int(a.length)]
const chance = (p) => rnd() < p

const NUMS = ['0', '0', '1', '1', '2', '3', '10', '0', '1', '2']
const BIG = ['9007199254740991', '9007199254740992', '9007199254740990', '99999999999999999999',
  '01', '00']
const XS = ['x', 'X', '*']
const PRE_IDS = ['alpha', 'beta', 'rc', '0', '1', '2', '10', 'pre', 'x', '-', 'a-b', '0a',
  'alpha1', 'Beta', 'RC', '01', '9007199254740993', '9007199254740992']
const BUILD_IDS = ['build', '001', 'sha', '5114f85', 'exp-1', 'x']
const OPS = ['', '', '=', '^', '^', '~', '~', '~>', '>', '>=', '>=', '<', '<', '<=', 'v', '=v',
  '==', '>v', 'v=']
const WS = [' ', ' ', ' ', '  ', '\t', '\u00a0', '\n', '\u3000']

const num = () => (chance(0.03) ? pick(BIG) : pick(NUMS))
const prerelease = () => {
  const n = 1 + int(chance(0.3) ? 3 : 1)
  const ids = []
  for (let i = 0; i < n; i++) {
    ids.push(pick(PRE_IDS))
  }
  return ids.join('.')
}
const build = () => {
  const n = 1 + int(2)
  const ids = []
  for (let i = 0; i < n; i++) {
    ids.push(pick(BUILD_IDS))
  }
  return ids.join('.')
}

// A full version, mostly valid.
const version = () => {
  let v = `${num()}.${num()}.${num()}`
  if (chance(0.35)) {
    v += `-${prerelease()}`
  }
  if (chance(0.12)) {
    v += `+${build()}`
  }
  if (chance(0.04)) {
    v = pick(['v', ' ', '=', 'V', '\u00a0', '\t']) + v
  }
  if (chance(0.03)) {
    v += pick([' ', '.', '-', '+', '\n', '.0'])
  }
  return v
}

// A partial or full version for a range: 1, 1.x, 1.2, 1.2.*, 1.2.3-pre+b ...
const partial = () => {
  const parts = 1 + int(3)
  const comp = () => (chance(0.15) ? pick(XS) : num())
  let v = comp()
  for (let i = 1; i < parts; i++) {
    v += `.${comp()}`
  }
  if (parts === 3 && chance(0.25)) {
    v += `-${prerelease()}`
  }
  if (chance(0.08)) {
    v += `+${build()}`
  }
  return v
}

const comparator = () => {
  const op = pick(OPS)
  const sp = chance(0.1) ? pick(WS) : ''
  return op + sp + partial()
}

const alternative = () => {
  if (chance(0.15)) {
    const sp = () => (chance(0.85) ? ' ' : pick(WS))
    return `${chance(0.2) ? pick(['v', '=', '']) : ''}${partial()}${sp()}-${sp()}${partial()}`
  }
  if (chance(0.06)) {
    return pick(['', '*', 'x', '>=0.0.0', '<0.0.0-0', '>*', '<*', 'X.X', '*.*.*'])
  }
  const n = 1 + int(chance(0.4) ? 3 : 1)
  const cs = []
  for (let i = 0; i < n; i++) {
    cs.push(comparator())
  }
  return cs.join(chance(0.9) ? ' ' : pick(WS))
}

const range = () => {
  const n = 1 + int(chance(0.3) ? 3 : 1)
  const alts = []
  for (let i = 0; i < n; i++) {
    alts.push(alternative())
  }
  const sep = pick(['||', ' || ', ' || ', '  ||  ', '|| ', '|||'])
  let r = alts.join(sep)
  if (chance(0.08)) {
    r = pick([' ', '\t', '\u00a0']) + r + pick(['', ' ', '\n'])
  }
  return r
}

// Random edits that make odd or invalid ranges, where the text stages' quirks live.
const MUT = ['<', '>', '=', '^', '~', '*', 'x', '.', '-', '+', '|', ' ', 'v', '0', '1', '9',
  'a', '_', '!', '\u00a0', '||', ' - ']
const mutate = (s) => {
  const edits = 1 + int(3)
  for (let e = 0; e < edits; e++) {
    const at = int(s.length + 1)
    switch (int(4)) {
      case 0: s = s.slice(0, at) + pick(MUT) + s.slice(at); break
      case 1: s = s.slice(0, at) + s.slice(at + 1); break
      case 2: s = s.slice(0, at) + s.slice(at, at + 2) + s.slice(at); break
      default: s = s.slice(0, at) + pick(MUT) + s.slice(at + 1)
    }
  }
  return s
}

// Short strings drawn from the characters ranges are made of: no structure at all.
const JUNK = '<>=^~*xX.-+| v0123456789ab'
const junk = () => {
  let s = ''
  const n = 1 + int(12)
  for (let i = 0; i < n; i++) {
    s += JUNK[int(JUNK.length)]
  }
  return s
}

// Versions close to the numbers a range names, so both verdicts are common.
const nearVersion = (r) => {
  const nums = r.match(/\d+/g) || ['1']
  const f = () => {
    const n = pick(nums)
    const d = chance(0.6) ? 0 : pick([-1, 1])
    const v = Number(n) + d
    return v < 0 || !Number.isSafeInteger(v) ? n : String(v)
  }
  let v = `${f()}.${f()}.${f()}`
  if (chance(0.4)) {
    v += `-${prerelease()}`
  }
  if (chance(0.08)) {
    v += `+${build()}`
  }
  return v
}

// Hand-picked cases: node-semver's documented examples and the quirks we replay.
const FIXED = [
  ['1.2.3', '^1.2.3'], ['2.0.0', '^1.2.3'], ['1.9.9', '^1.2.3'], ['0.2.5', '^0.2.3'],
  ['0.3.0', '^0.2.3'], ['0.0.3', '^0.0.3'], ['0.0.4', '^0.0.3'], ['1.2.4-beta', '^1.2.3'],
  ['1.2.3-beta.2', '^1.2.3-beta.1'], ['1.2.4-beta.2', '^1.2.3-beta.1'], ['1.2.5', '~1.2.3'],
  ['1.3.0', '~1.2.3'], ['1.9.0', '~1'], ['1.2.3', '1.2.3 - 2.3.4'], ['2.3.4', '1.2.3 - 2.3.4'],
  ['2.3.5', '1.2.3 - 2.3.4'], ['2.3.9', '1.2 - 2.3'], ['2.4.0', '1.2 - 2.3'],
  ['1.2.3', '1.2.3*'], ['1.2.3', '==1.2.3'], ['1.2.9', '==1.2'], ['1.2.3', '>=*1.2.3'],
  ['1.2.3', '~> 1.2'], ['1.2.3', '~ > 1.2'], ['1.2.3', '> =1.2.3'], ['1.2.3', '< = 1.2.3'],
  ['1.2.3', '^ 1.2'], ['1.2.3', '1.2.3 ||'], ['5.0.0', '1.2.3 ||'], ['1.2.3', '+build'],
  ['1.2.3', '=1.2.3 - 2'], ['1.2.3', 'v1.2.3 - v2'], ['1.2.3', '>=v1.2.3'],
  ['1.2.3', '>=vv1.2.3'], ['1.2.3', '>=vv1.2'], ['1.2.3', 'x.1.2 - 2'],
  ['1.2.3', '<=9007199254740991.x'], ['1.2.3', '^9007199254740991'],
  ['1.2.3', '~1.9007199254740990'], ['1.2.3', '1 - 9007199254740990'],
  ['1.2.3', 'x.99999999999999999999.5 - 2'], ['1.2.3', '1.x.3'], ['1.2.3', '^1.x.3'],
  ['1.2.3', '1.2.x-beta'], ['1.2.3-beta', '1.2.x-beta'], ['1.2.3', '>1'], ['2.0.0', '>1'],
  ['1.9.9', '<=1'], ['2.0.0-0', '<2'], ['1.2.3', '>*'], ['1.2.3', '<*'], ['1.2.3', '*'],
  ['1.2.3-a', '*'], ['1.2.3', ''], ['1.2.3', '>=0.0.0'], ['0.0.0-0', '>=0.0.0-0'],
  ['1.2.3', '<0.0.0-0 || 1.x'], ['1.2.3', '<0.0.0-0'], ['1.2.3', '1.2.3+build'],
  ['1.2.3+other', '1.2.3+build'], ['v1.2.3', '1.2.3'], [' 1.2.3 ', '1.2.3'],
  ['=1.2.3', '1.2.3'], ['1.2.3-01', '*'], ['01.2.3', '*'], ['1.2', '*'], ['1.2.3.4', '*'],
  ['1.2.3-', '*'], ['1.2.3+', '*'], ['', '*'], ['1.2.3', '1.2.3-'], ['1.2.3', '1.2.3 -'],
  ['1.2.3', '- 1.2.3'], ['1.2.3', '1.2.3 - '], ['1.2.3', '>= 1.2.3 < 2'],
  ['1.2.3', '>=1.2.3 <2 || >=3'], ['1.2.3', '~>=1.2.3'], ['1.2.3', '^=1.2.3'],
  ['1.2.3', '^vv==v1.2'], ['1.2.3', '=>1.2.3'], ['1.2.3', '<>1.2.3'], ['1.2.3', '!1.2.3'],
  ['1.2.3', '1.2.3 | 1.2.4'], ['1.2.3', '|| 1.2.3'], ['1.2.3', '||'], ['1.2.3', '|||'],
  ['1.2.3-alpha.10', '>=1.2.3-alpha.9'], ['1.2.3-alpha.beta', '>1.2.3-alpha.1'],
  ['1.2.3-9007199254740993', '>1.2.3-9007199254740992'],
  ['1.2.3-9007199254740993', '1.2.3-9007199254740992'],
  ['1.2.3', '1.2.3\u00a0-\u00a02'], ['1.2.3', '\u30001.2.3'], ['1.2.3', '1.2.3\ufeff'],
  ['1.0.0', '^0'], ['0.9.0', '^0'], ['0.1.0', '^0.1'], ['0.0.9', '^0.0'], ['0.0.9', '~0'],
  ['1.2.3', 'x - 1.2'], ['1.2.3', '1.2 - x'], ['1.2.3', '* - *'], ['1.2.3', '1.2.3 - 1.2.3-0'],
  ['1.2.3-0', '1.2.3-0 - 1.2.3'], ['1.2.3', '^1.2.3+build'], ['1.2.3', '~1.2.3-beta+b'],
  ['1.2.3', '1.2.3 +b 2'], ['1.2.3', '>=1.2.3 +b'], ['1.2.3', '1.2.+3'], ['1.2.3', '^+1.2.3'],
  ['1.2.3', '1.2.3>*'], ['1.2.3', '**'], ['1.2.3', '~ 1.2.3'], ['1.2.3', '~>  1.2.3'],
  ['1.2.3', '> 1.2.2'], ['1.2.3', '<= v 1.2.3'], ['1.2.3', 'v 1.2.3'], ['1.2.3', '= 1.2.3'],
]

const enc = (s) => Buffer.from(s, 'utf8').toString('hex')

const judge = (v, r) => {
  let rv = true
  let ver = null
  let parsed = null
  try {
    parsed = new semver.Range(r)
  } catch (e) {
    rv = false
  }
  try {
    ver = new semver.SemVer(v)
  } catch (e) {
    ver = null
  }
  const vv = ver !== null
  const sat = rv && vv ? parsed.test(v) : false
  if (sat !== semver.satisfies(v, r)) {
    throw new Error(`oracle inconsistent on ${JSON.stringify([v, r])}`)
  }
  return `P\t${enc(v)}\t${enc(r)}\t${rv ? 1 : 0}${vv ? 1 : 0}${sat ? 1 : 0}\t` +
    `${rv ? enc(parsed.range) : ''}`
}

const lines = []
const validRanges = []
for (const [v, r] of FIXED) {
  lines.push(judge(v, r))
}
while (lines.length < PAIRS) {
  let r = chance(0.08) ? junk() : range()
  if (chance(0.2)) {
    r = mutate(r)
  }
  if (semver.validRange(r) !== null && validRanges.length < 4000) {
    validRanges.push(r)
  }
  const vs = [nearVersion(r), chance(0.5) ? nearVersion(r) : version()]
  for (const v of vs) {
    lines.push(judge(v, r))
  }
}
const INTERSECTS = Math.floor(PAIRS / 4)
for (let i = 0; i < INTERSECTS && validRanges.length > 1; i++) {
  const a = pick(validRanges)
  const b = pick(validRanges)
  const x = new semver.Range(a).intersects(new semver.Range(b))
  lines.push(`I\t${enc(a)}\t${enc(b)}\t${x ? 1 : 0}`)
}
fs.writeFileSync(outFile, lines.join('\n') + '\n')
const pkg = require(path.join(modDir, 'semver', 'package.json'))
console.log(`oracle semver@${pkg.version}: wrote ${lines.length} cases to ${outFile}`)
