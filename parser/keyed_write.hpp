// Track mode's write side: recognises an UPDATE or DELETE of a protected table by key and leaves a slot for its version predicate.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "parser/rewrite.hpp"
#include "rules/table_rule.hpp"

namespace staleguard::parser {

struct KeyedTarget {
    const rules::TableRule* rule = nullptr;
    // Each tuple in key order: a value's text as PostgreSQL's parser holds it (integers
    // normalised, `'5'::int` → 5, strings without quotes) or "$n". A string literal that looks
    // like "$n" is refused (NotKeyed) so that "$n" always means a parameter. Duplicate tuples are
    // dropped. With from_array_parameter there is one tuple, holding "$n" at the position of the
    // column that `= ANY($n)` constrains: one row per element of that array at Bind.
    std::vector<std::vector<std::string>> key_tuples;
    bool from_array_parameter = false;  // key = ANY($n): tuples known at Bind
    int array_parameter = 0;
    // rule->table.to_string(), the name the ReadSet files the rows under, spelt once per plan.
    std::string table_name;
};

struct KeyedWrite {
    enum class Outcome { NotKeyed, Keyed };
    Outcome outcome = Outcome::NotKeyed;
    std::string reason;  // NotKeyed: why
    KeyedTarget target;
    bool is_delete = false;
    // The UPDATE sets a key column, so the keys its RETURNING shows are the new ones, not the
    // ones it was checked against; only a write of one key tuple is Keyed then (its verdict
    // goes by whether it returned a row at all).
    bool assigns_key = false;
    // How the slot's predicate must name the table's columns (`<qualifier>.version`), as SQL
    // text: the alias, else the name as written; needed when FROM/USING brings other tables
    // with columns of the same names.
    std::string qualifier;
    // The statement text (deparsed, with the version bump already in its SET list) with a slot
    // where the version predicate goes: sql_before_slot ends with `AND (` at the end of the
    // top-level WHERE and sql_after_slot starts with `)`. The session fills it per execution with
    // e.g. `(id, version) IN ((1, '3'), (2, '7'))` or `version = '3'`.
    std::string sql_before_slot, sql_after_slot;
};

// A keyed UPDATE or DELETE of one track-mode table: its top-level WHERE is an AND in which every
// key column is constrained by `= literal|$n` (either way round, or as `(a, b) = (1, 2)`), or one
// of them by `IN (literals or $n)`, `= ANY($n)`, `= ANY(ARRAY[...])` or `= ANY('{...}')`, or
// several of them together by `(a, b) IN ((1, 2), ...)`. Other conjuncts may be anything. An
// UPDATE that sets a key column is Keyed only when it names one key tuple, not an array parameter. Bypass roles and `staleguard.enabled` are the caller's to apply. UPDATEs bump the
// version as the Rewriter does in track mode; an UPDATE the rule's watch/ignore lists leave
// unguarded, and a DELETE under delete=allow, are NotKeyed.
[[nodiscard]] KeyedWrite analyse_keyed_write(std::string_view sql, const rules::RuleSet& rules,
                                             const SchemaResolver& resolve);

}  // namespace staleguard::parser
