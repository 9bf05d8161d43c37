"""Operations: the campaign's indices, dashboard and backlog gauge; DLQ tooling and stack resource names."""
