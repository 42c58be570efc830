package io.instructflow.pipelines.generate;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.Seeds;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.PromptRef;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RejectReason;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Records to generation requests and results back to records, for {@code generate}.
 *
 * <p>A single-turn record becomes a text request: its instruction, followed by a blank line and its
 * input when it has one (the template {@value #INSTRUCTION_INPUT_TEMPLATE_ID}); a {@code {"prompt": ...}}
 * record is read as an instruction, so its prompt goes to the model unchanged. A chat record becomes a
 * chat request with its turns up to the last non-assistant one, rendered with the model's own chat
 * template. The completion goes into {@code output} (single-turn) or a final assistant turn (chat), and
 * the record gets a {@code generate} step naming the model, parameters, effective seed and template.
 */
public final class GenerateRequests {
  /** The step name recorded in provenance. */
  public static final String STEP = "generate";
  /** Version of this step's logic. */
  public static final String VERSION = "1";
  /** Template id for instruction plus input. */
  public static final String INSTRUCTION_INPUT_TEMPLATE_ID = "instructflow/instruction-input@1";
  /** The template text (for its hash): the instruction, a blank line, the input. */
  static final String INSTRUCTION_INPUT_TEMPLATE = "{instruction}\n\n{input}";

  private GenerateRequests() {}

  /** The reject reason of a request that failed: too long, no chat template, or any other failure. */
  public static RejectReason rejectReason(GenerationResult failed) {
    return failed.errorKind().rejectReason();
  }

  /**
   * The reject of a generator's request that failed: {@code payload} (the prompt spec or record the
   * request was for) as the raw input, so that it can be replayed.
   */
  public static Reject failedRequest(String source, String location, GenerationResult res, String step, Object payload) {
    byte[] raw = Json.line(payload).getBytes(StandardCharsets.UTF_8);
    return Reject.of(source, location, rejectReason(res), res.error(), step, raw, raw.length);
  }

  /** The request for a record, with the seed derived from the run seed and the record id. */
  public static GenerationRequest request(Example e, SamplingParams params, long runSeed) {
    long seed = Seeds.derive(runSeed, e.id());
    if (e.isChat()) {
      List<Message> turns = new ArrayList<>(e.messages());
      while (!turns.isEmpty() && turns.get(turns.size() - 1).role().equals("assistant")) {
        turns.remove(turns.size() - 1);
      }
      if (turns.isEmpty()) {
        turns = e.messages();
      }
      return GenerationRequest.chat(e.id(), turns, params, seed);
    }
    String prompt = hasInput(e) ? e.instruction() + "\n\n" + e.input() : e.instruction();
    return GenerationRequest.text(e.id(), prompt, params, seed);
  }

  /** The template a record's request used, or null when its text went to the model unchanged. */
  public static PromptRef template(Example e, String chatTemplate) {
    if (e.isChat()) {
      return chatTemplate == null ? null : new PromptRef("gguf:tokenizer.chat_template", sha256(chatTemplate));
    }
    return hasInput(e) ? new PromptRef(INSTRUCTION_INPUT_TEMPLATE_ID, sha256(INSTRUCTION_INPUT_TEMPLATE)) : null;
  }

  private static boolean hasInput(Example e) {
    return e.input() != null && !e.input().isEmpty();
  }

  /** The record with the (first) completion of a successful result. */
  public static Example withCompletion(Example e, GenerationRequest request, GenerationResult result, ModelRef model,
      PromptRef prompt) {
    String completion = result.choices().get(0).text();
    Map<String, Object> parameters = new TreeMap<>(request.params().asMap());
    parameters.put("finish_reason", result.choices().get(0).finishReason().json());
    Step step = new Step(STEP, VERSION, parameters, Verdict.KEPT, List.of(e.id()), null, model, prompt,
        request.seed());
    Provenance p = e.provenance().plus(step);
    if (request.isChat()) {
      List<Message> turns = new ArrayList<>(request.messages());
      turns.add(new Message("assistant", completion));
      return Example.chat(turns, e.metadata(), p);
    }
    return Example.single(e.instruction(), e.input(), completion, e.metadata(), p);
  }

  static String sha256(String text) {
    return Ids.sha256Hex(text.getBytes(StandardCharsets.UTF_8));
  }
}
