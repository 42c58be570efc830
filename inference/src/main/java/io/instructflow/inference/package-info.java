/**
 * Embedded, batched LLM inference (no Beam): the {@code LanguageModel} SPI, the llama.cpp (GGUF)
 * backend, the OpenAI-compatible HTTP backend and the response cache. Pipelines call it in-process on
 * each worker, with one loaded model per JVM. Built by the inference issue; this module exists now so
 * that the dependency direction (generators → inference → schemas) is fixed from the start.
 */
package io.instructflow.inference;
