// The mm's RSS counters, split per CPU as Linux's SPLIT_RSS_COUNTING: each
// CPU accumulates deltas privately and folds them into the mm's atomic
// counters every SET_RSS_THRESH events (and at the end of a run), so the
// shared counter line is written once per batch, not once per fault.

import { PCM_RSS_ANON, PCM_RSS_FILE, PCM_RSS_EVENTS, MM_RSS_ANON, MM_RSS_FILE, MM_RSS_WORDS, SET_RSS_THRESH, pcm, mm_addr, setting } from './layout';
import { cpu_id, stat_inc } from './cpu';
import { shared_rmw, word_add } from './shared';
import { STAT_RSS_FOLD } from './generated';

/** fold this CPU's deltas into mm `mm` */
export function sync_mm_rss(mm: u32): void {
  const p = pcm(cpu_id());
  const a = load<i32>(p + PCM_RSS_ANON);
  const f = load<i32>(p + PCM_RSS_FILE);
  store<u32>(p + PCM_RSS_EVENTS, 0);
  if (a == 0 && f == 0) return;
  stat_inc(STAT_RSS_FOLD);
  const m = mm_addr(mm);
  shared_rmw(m, MM_RSS_WORDS);
  word_add<i32>(m, MM_RSS_WORDS, MM_RSS_ANON, a);
  word_add<i32>(m, MM_RSS_WORDS, MM_RSS_FILE, f);
  store<i32>(p + PCM_RSS_ANON, 0);
  store<i32>(p + PCM_RSS_FILE, 0);
}

/** add_mm_counter_fast(): `anon` selects MM_ANONPAGES vs MM_FILEPAGES */
export function add_mm_counter(mm: u32, anon: bool, d: i32): void {
  const p = pcm(cpu_id());
  const off = anon ? PCM_RSS_ANON : PCM_RSS_FILE;
  store<i32>(p + off, load<i32>(p + off) + d);
  const ev = load<u32>(p + PCM_RSS_EVENTS) + 1;
  store<u32>(p + PCM_RSS_EVENTS, ev);
  let th = setting(SET_RSS_THRESH);
  if (th == 0) th = 64;
  if (ev >= th) sync_mm_rss(mm);
}
