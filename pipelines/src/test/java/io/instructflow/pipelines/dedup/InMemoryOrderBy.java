package io.instructflow.pipelines.dedup;

import io.instructflow.filters.rouge.GreedyRougeFilter;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.RunSummary;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.transforms.join.CoGroupByKey;
import org.apache.beam.sdk.transforms.join.KeyedPCollectionTuple;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PCollectionView;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * The test reference for {@code dedup --order-by} with {@code --strategy sequential}: the form the
 * command had before issue 23 (item 7), kept here only. Every record's tokens meet in one task as a
 * side input, are sorted by sort value and input position, decided with the sequential rule, and the
 * decisions are joined back to the records and written in input order.
 */
final class InMemoryOrderBy {
  private InMemoryOrderBy() {}

  /** The whole command in that form. */
  static RunSummary run(DedupPipeline.Config c, PrintStream console) throws Exception {
    PipelineRun run = PipelineRun.start("dedup", c.runner(), c.read(), c.out(), c.asMap(), console);
    Pipeline p = run.pipeline();
    ReadRecords.Result r = run.read();
    PCollection<KV<OrderKey, Example>> examples = r.examples();
    PCollectionView<List<DedupItem>> items = examples
        .apply("Tokenize", ParDo.of(new DedupPipeline.TokenizeFn(c.field(), c.tokenizer(), c.stem(), c.orderBy())))
        .setCoder(SerializableCoder.of(DedupItem.class))
        .apply("AllItems", View.asList());
    PCollection<KV<OrderKey, DedupDecision>> decisions = p.apply("Once", Create.of(0).withCoder(VarIntCoder.of()))
        .apply("Decide", ParDo.of(new DecideFn(items, c.threshold())).withSideInputs(items))
        .setCoder(KvCoder.of(OrderKey.Coder.of(), SerializableCoder.of(DedupDecision.class)));
    TupleTag<Example> exTag = new TupleTag<>() {};
    TupleTag<DedupDecision> decTag = new TupleTag<>() {};
    PCollectionTuple out = KeyedPCollectionTuple.of(exTag, examples)
        .and(decTag, decisions)
        .apply("JoinDecisions", CoGroupByKey.create())
        .apply("ApplyDecisions", ParDo.of(new DedupPipeline.ApplyFn(exTag, decTag, c.stepParameters()))
            .withOutputTags(DedupPipeline.KEPT, TupleTagList.of(DedupPipeline.FILTERED)));
    KvCoder<OrderKey, Example> coder = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));
    run.write(out.get(DedupPipeline.KEPT).setCoder(coder), OutputLayout.Kind.DATA, "Data");
    run.write(out.get(DedupPipeline.FILTERED).setCoder(coder), OutputLayout.Kind.FILTERED, "Filtered");
    run.write(r.rejects(), OutputLayout.Kind.REJECTS, "Rejects");
    run.execute("read+dedup+write", Progress.READ);
    return run.finish(c.shardSize(), null, null);
  }

  /** Orders every item and runs the greedy rule; one decision per record. */
  static final class DecideFn extends DoFn<Integer, KV<OrderKey, DedupDecision>> {
    private static final long serialVersionUID = 1L;
    private final PCollectionView<List<DedupItem>> items;
    private final double threshold;

    DecideFn(PCollectionView<List<DedupItem>> items, double threshold) {
      this.items = items;
      this.threshold = threshold;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      List<DedupItem> all = new ArrayList<>(c.sideInput(items));
      all.sort(Comparator.comparing(DedupItem::sortValue, SortValue.ORDER).thenComparing(DedupItem::key));
      List<List<String>> texts = new ArrayList<>(all.size());
      for (DedupItem i : all) {
        texts.add(i.tokens());
      }
      GreedyRougeFilter.Result r = GreedyRougeFilter.sequential(texts, threshold);
      for (int j = 0; j < all.size(); j++) {
        GreedyRougeFilter.Decision d = r.decisions().get(j);
        DedupItem item = all.get(j);
        if (d.kept()) {
          c.output(KV.of(item.key(), new DedupDecision(true, null, null, 0)));
        } else {
          DedupItem m = all.get(d.matched());
          c.output(KV.of(item.key(), new DedupDecision(false, m.id(), m.location(), d.score())));
        }
      }
    }
  }
}
