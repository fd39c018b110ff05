select 1;; /* a */ UPDATE accounts SET a = 1 /* b */ ; -- c
 select $$;$$