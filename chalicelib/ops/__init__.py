"""Operations: the campaign's indices, dashboard and backlog gauge; DLQ inspection and replay; resource names."""
