/**
 * Record filters (no Beam): ROUGE-L near-duplicate filtering with Lucene candidate search, exact and
 * fuzzy dedup, quality heuristics, LLM-judge scoring and benchmark decontamination. Each filter returns
 * a {@link io.instructflow.schemas.Verdict} that the pipelines record in provenance. Built by the
 * ROUGE-L and quality-filter issues; depends on schemas only.
 */
package io.instructflow.filters;
