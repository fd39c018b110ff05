// What a client has run since its last Sync: the statements that share one implicit transaction.
#pragma once

#include <cstddef>
#include <string_view>

#include "parser/block_start.hpp"
#include "proxy/codec/frontend_messages.hpp"

namespace staleguard::session {

// Counts the Executes since the last Sync (or simple Query, which ends the implicit transaction
// too). An Execute that only opens a block does not count: whatever follows it runs in the block,
// which an error aborts whole. pgjdbc sends its BEGIN that way, through the unnamed statement and
// portal, so only those are followed; a named statement is never taken for a BEGIN.
class SyncBatch {
public:
    // No Execute counted: the next statement is the first of its implicit transaction, or the
    // first after a BEGIN.
    bool empty() const { return executes_ == 0; }

    void on_parse(const wire::Parse& parse) {
        if (parse.statement.empty()) unnamed_statement_opens_block_ = parser::opens_transaction_block(parse.query);
    }
    void on_bind(const wire::Bind& bind) {
        if (bind.portal.empty()) unnamed_portal_opens_block_ = bind.statement.empty() && unnamed_statement_opens_block_;
    }
    void on_execute(const wire::Execute& execute) {
        if (!(execute.portal.empty() && unnamed_portal_opens_block_)) ++executes_;
    }
    void on_close(const wire::Close& close) {
        if (!close.name.empty()) return;
        if (close.kind == wire::ObjectKind::Statement) unnamed_statement_opens_block_ = false;
        else unnamed_portal_opens_block_ = false;
    }
    void on_sync() { executes_ = 0; }
    // A simple Query also destroys the unnamed statement and portal.
    void on_query() {
        executes_ = 0;
        unnamed_statement_opens_block_ = unnamed_portal_opens_block_ = false;
    }

private:
    std::size_t executes_ = 0;
    bool unnamed_statement_opens_block_ = false;
    bool unnamed_portal_opens_block_ = false;
};

}  // namespace staleguard::session
